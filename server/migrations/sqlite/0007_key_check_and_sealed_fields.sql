-- The data key tied to its database (server/src/data_key.rs): one row, written at the first
-- start, that only the key ring it was made with can check. Every command that opens the
-- database checks its ring against it, and none makes a new key once it exists.
CREATE TABLE data_key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The id of the key that sealed `sealed`: the ring must hold it.
    key_id TEXT NOT NULL,
    -- A known text sealed under that key.
    sealed BLOB NOT NULL,
    -- A keyed hash of a known text under the lookup key (derived from the ring's oldest
    -- key): a ring that opens `sealed` but would hash ID numbers differently is refused too.
    lookup_check TEXT NOT NULL,
    -- Where that key came from at the first start (`env`, `file` or `generated`, and the
    -- file's path), to tell an operator with the wrong key where the right one was.
    source_kind TEXT NOT NULL,
    source_path TEXT,
    created_at INTEGER NOT NULL
);

-- What is plaintext at rest is a decision (docs/SECURITY.md): a member's full birth date and
-- employer are sealed; the birth year stays plain, enough for age-band reports.
ALTER TABLE member ADD COLUMN birth_year INTEGER;
ALTER TABLE member ADD COLUMN birth_date_sealed BLOB;
ALTER TABLE member ADD COLUMN employer_sealed BLOB;
UPDATE member SET birth_year = CAST(substr(birth_date, 1, 4) AS INTEGER)
    WHERE birth_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]';
-- SQL cannot seal: the households whose rows held a plain birth date or employer are
-- projected again from their documents at the next start (register::refill_pending).
CREATE TABLE register_refill (household_id TEXT PRIMARY KEY);
INSERT INTO register_refill (household_id)
    SELECT DISTINCT household_id FROM member WHERE birth_date IS NOT NULL OR employer IS NOT NULL;
ALTER TABLE member DROP COLUMN birth_date;
ALTER TABLE member DROP COLUMN employer;
