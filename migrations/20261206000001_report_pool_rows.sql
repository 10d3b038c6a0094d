-- The pool report reads only the pool's own rows (member_id = ''), a few dozen a day among the
-- members' thousands; the day-first keys made it walk every member's rows of the range. These
-- hold just the pool's rows, so the aggregator writes little more.
CREATE INDEX report_counts_pool_idx ON report_counts (tenant_id, pool_id, day)
    WHERE member_id = '';
CREATE INDEX report_histograms_pool_idx ON report_histograms (tenant_id, pool_id, day)
    WHERE member_id = '';
