-- Entitlements kept exactly (fairness ledger): an `entitled_micro` row's `reason` is the total
-- weight of the members able to receive the leads it counts, and `weight` the member's weight
-- summed over those leads, so the member is entitled to weight ÷ reason leads. Rounding each
-- lead's share to a millionth made the ledger drift (three members, a lead each: 0.999999).
-- `value` still holds the share in millionths, which the previous release reads; rows folded
-- before this migration have reason '' and millionths only. Expand only: a default, no rewrite.
ALTER TABLE report_counts ADD COLUMN weight bigint NOT NULL DEFAULT 0;
ALTER TABLE report_month_counts ADD COLUMN weight bigint NOT NULL DEFAULT 0;
