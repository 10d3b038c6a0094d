-- A lead let in as a known duplicate is live too, so a later lead with its phone or e-mail
-- duplicates it (domain.md: "matches a live lead of the tenant"), also once the original is
-- discarded or converted. The unique indexes cover the originals; these the known
-- duplicates, usually few.
CREATE INDEX leads_live_duplicate_phone_idx ON leads (tenant_id, phone_normalized)
    WHERE phone_normalized <> '' AND duplicate_of IS NOT NULL AND state IN ('IN_POOL', 'OWNED');
CREATE INDEX leads_live_duplicate_email_idx ON leads (tenant_id, email_normalized)
    WHERE email_normalized <> '' AND duplicate_of IS NOT NULL AND state IN ('IN_POOL', 'OWNED');

-- The live lead a contact (normalised phone and e-mail, '' for none) duplicates: an original
-- before a known duplicate, then the oldest. One definition for CreateLead, UpdateLead's error,
-- ReopenLead's error and imports. (Parameters are named unlike any column: a column of the
-- same name would win.) Each arm states its indexes' predicates on the table's own
-- columns, so it is a pair of index lookups under any plan.
CREATE FUNCTION live_lead_with_contact(of_tenant text, with_phone text, with_email text)
RETURNS uuid
LANGUAGE sql STABLE
AS $$
    SELECT live.id
    FROM (
        SELECT d.id, false AS known_duplicate, d.created_at
        FROM leads d
        WHERE d.tenant_id = of_tenant AND d.duplicate_of IS NULL
          AND d.state IN ('IN_POOL', 'OWNED')
          AND ((d.phone_normalized = with_phone AND d.phone_normalized <> '')
               OR (d.email_normalized = with_email AND d.email_normalized <> ''))
        UNION ALL
        SELECT d.id, true, d.created_at
        FROM leads d
        WHERE d.tenant_id = of_tenant AND d.duplicate_of IS NOT NULL
          AND d.state IN ('IN_POOL', 'OWNED')
          AND ((d.phone_normalized = with_phone AND d.phone_normalized <> '')
               OR (d.email_normalized = with_email AND d.email_normalized <> ''))
    ) live
    ORDER BY live.known_duplicate, live.created_at, live.id
    LIMIT 1
$$;
