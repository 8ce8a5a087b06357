-- Documents: one Automerge document per household, as an optional snapshot plus the
-- changes stored after it.
CREATE TABLE document (
    household_id TEXT PRIMARY KEY,
    village TEXT NOT NULL,
    snapshot BLOB,
    snapshot_feed INTEGER NOT NULL DEFAULT 0,
    heads BLOB NOT NULL,
    last_feed INTEGER NOT NULL,
    changes_after_snapshot INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE INDEX document_village_feed ON document (village, last_feed);

-- Every change, once, by hash. The feed position orders the change feed.
CREATE TABLE change (
    feed INTEGER PRIMARY KEY AUTOINCREMENT,
    household_id TEXT NOT NULL REFERENCES document (household_id),
    hash BLOB NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    bytes BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX change_household_feed ON change (household_id, feed);

CREATE TABLE device (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE device_village (
    device_id TEXT NOT NULL REFERENCES device (id),
    village TEXT NOT NULL,
    PRIMARY KEY (device_id, village)
);
CREATE TABLE operator_token (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- The register: plain rows projected from the documents, rewritten in the same
-- transaction as the changes that alter them.
CREATE TABLE household (
    id TEXT PRIMARY KEY REFERENCES document (household_id),
    village TEXT NOT NULL,
    number TEXT NOT NULL,
    head_name TEXT,
    address TEXT,
    member_count INTEGER NOT NULL,
    visit_count INTEGER NOT NULL,
    last_visit_at INTEGER,
    error_count INTEGER NOT NULL,
    warning_count INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX household_village_number ON household (village, number);
CREATE TABLE member (
    household_id TEXT NOT NULL REFERENCES household (id),
    member_key TEXT NOT NULL,
    name TEXT,
    id_number TEXT,
    sex TEXT,
    birth_date TEXT,
    relation TEXT,
    labour_capacity TEXT,
    employment_status TEXT,
    employer TEXT,
    wants_work INTEGER,
    wants_training INTEGER,
    PRIMARY KEY (household_id, member_key)
);
CREATE INDEX member_id_number ON member (id_number);
CREATE TABLE visit (
    household_id TEXT NOT NULL REFERENCES household (id),
    visit_id TEXT NOT NULL,
    volunteer TEXT,
    device TEXT,
    started_at INTEGER,
    finished_at INTEGER,
    outcome TEXT,
    PRIMARY KEY (household_id, visit_id)
);
