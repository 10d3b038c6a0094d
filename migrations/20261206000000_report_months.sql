-- Month rollups beside the day rollups (docs/reports.md): a range reads its whole months from
-- these and only the days around them from the day rows, so a member report over 90 days of
-- 500 members reads about a third of the rows, and over a year a tenth. The aggregator adds a
-- batch to both in the same statement, so they always agree with the checkpoint.

-- `month` is the month's first day; `day_weighted` sums each day's value times the days since
-- the month's first, which is what weighing holdings by the days left in a range needs.
CREATE TABLE report_month_counts (
    tenant_id    text   NOT NULL,
    pool_id      uuid   NOT NULL,
    month        date   NOT NULL,
    member_id    text   NOT NULL,
    metric       text   NOT NULL,
    reason       text   NOT NULL,
    value        bigint NOT NULL,
    day_weighted bigint NOT NULL,
    PRIMARY KEY (tenant_id, pool_id, month, member_id, metric, reason)
);

CREATE TABLE report_month_histograms (
    tenant_id text    NOT NULL,
    pool_id   uuid    NOT NULL,
    month     date    NOT NULL,
    member_id text    NOT NULL,
    metric    text    NOT NULL,
    bin       integer NOT NULL,
    count     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, pool_id, month, member_id, metric, bin)
);

-- What the day rollups already hold.
INSERT INTO report_month_counts
SELECT tenant_id, pool_id, month, member_id, metric, reason, sum(value), sum(value * (day - month))
FROM (SELECT *, date_trunc('month', day::timestamp)::date AS month FROM report_counts) c
GROUP BY tenant_id, pool_id, month, member_id, metric, reason;

INSERT INTO report_month_histograms
SELECT tenant_id, pool_id, date_trunc('month', day::timestamp)::date, member_id, metric, bin, sum(count)
FROM report_histograms
GROUP BY 1, 2, 3, 4, 5, 6;
