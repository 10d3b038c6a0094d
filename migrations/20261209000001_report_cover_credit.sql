-- The owner a colleague covers a lead for, while the cover lasts: a conversion by the colleague is
-- the owner's in the member report (domain.md: covered_owner_id, "so reports credit the right
-- person"). Facts saved before this column existed hold no cover; their leads are credited as
-- before until their next ownership event.
ALTER TABLE report_lead_facts ADD COLUMN covered_owner_id text;
