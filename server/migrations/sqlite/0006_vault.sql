-- Sensitive data at rest (server/src/vault.rs): from here on, change rows, snapshots and
-- member ID numbers are stored sealed under the server's data key.
--
-- Rows written before this migration are in the clear and this version cannot read them, and
-- there is no conversion (no deployment holds data yet). Rather than start and then fail on
-- the first household it loads, an upgrade of a database that holds any document stops here,
-- naming the reason; re-create it. An empty database upgrades as usual.
CREATE TABLE vault_upgrade_guard (
    ok INTEGER CONSTRAINT "documents stored in the clear before encryption at rest cannot be converted; re-create this database" CHECK (ok = 1)
);
INSERT INTO vault_upgrade_guard SELECT 0 FROM change LIMIT 1;
DROP TABLE vault_upgrade_guard;

-- A member's ID number: sealed, and its keyed hash, which lookup and duplicate detection
-- compare. The household's search text no longer holds ID numbers.
DROP INDEX member_id_number;
ALTER TABLE member DROP COLUMN id_number;
ALTER TABLE member ADD COLUMN id_number_sealed BLOB;
ALTER TABLE member ADD COLUMN id_number_hash TEXT;
CREATE INDEX member_id_number_hash ON member (id_number_hash);
