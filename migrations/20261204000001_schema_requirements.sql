-- Rolling updates with migrations as a step of their own (docs/operations.md): migrations only
-- expand the schema while the previous release still serves; a later "contract" migration that
-- drops what an older binary still uses raises min_binary_migration to the newest migration of
-- the first release that no longer uses it, and binaries older than that refuse to start
-- ("schema too new") instead of failing on the first call that touches what is gone.
CREATE TABLE schema_requirements (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    min_binary_migration bigint  NOT NULL
);
INSERT INTO schema_requirements (min_binary_migration) VALUES (0);
