-- Imported rosters (issue 17, ADR 0012): other offices' rosters keyed by ID number, the
-- columns a clerk mapped for each kind, and the mismatches between them and the ledger.
CREATE TABLE imported_roster (
    id TEXT PRIMARY KEY,
    -- registry, social_insurance, employment_registration or training_completion.
    kind TEXT NOT NULL,
    -- The area the roster covers; the newest roster of a kind and area is the one compared.
    area TEXT NOT NULL,
    file_name TEXT NOT NULL,
    -- BLAKE3 of the file's bytes: the same file imported again is the same import.
    file_hash TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    set_aside_count BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    withdrawn_at BIGINT,
    withdrawn_by TEXT
);
CREATE UNIQUE INDEX imported_roster_file ON imported_roster (kind, area, file_hash)
    WHERE withdrawn_at IS NULL;
CREATE INDEX imported_roster_kind ON imported_roster (kind, area, imported_at);
-- One good row of a roster. Everything it says, its ID number included, is sealed; the
-- keyed hash of the ID number (the register's) finds the person in the ledger.
CREATE TABLE imported_roster_row (
    roster_id TEXT NOT NULL REFERENCES imported_roster (id),
    row_number BIGINT NOT NULL,
    id_number_hash TEXT NOT NULL,
    values_sealed BYTEA NOT NULL,
    PRIMARY KEY (roster_id, row_number)
);
CREATE INDEX imported_roster_row_hash ON imported_roster_row (id_number_hash);
-- The columns last mapped for a kind (JSON: field name to header), offered next time.
CREATE TABLE imported_roster_mapping (
    kind TEXT PRIMARY KEY,
    columns TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The open mismatches, recomputed whole for a kind at each import or withdrawal and for
-- one household when it changes. The id is stable (kind, rule, ID number hash). What the
-- two sides say names a person, so it is sealed.
CREATE TABLE mismatch (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    roster_id TEXT NOT NULL REFERENCES imported_roster (id),
    area TEXT NOT NULL,
    household_id TEXT,
    member_key TEXT,
    id_number_hash TEXT NOT NULL,
    detail_sealed BYTEA NOT NULL,
    found_at BIGINT NOT NULL
);
CREATE INDEX mismatch_area ON mismatch (area, kind);
CREATE INDEX mismatch_household ON mismatch (household_id);
CREATE INDEX mismatch_hash ON mismatch (id_number_hash);
