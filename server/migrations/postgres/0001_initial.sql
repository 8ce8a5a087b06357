-- Documents: one Automerge document per household, as an optional snapshot plus the
-- changes stored after it.
CREATE TABLE document (
    household_id TEXT PRIMARY KEY,
    village TEXT NOT NULL,
    snapshot BYTEA,
    snapshot_feed BIGINT NOT NULL DEFAULT 0,
    heads BYTEA NOT NULL,
    last_feed BIGINT NOT NULL,
    changes_after_snapshot BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX document_village_feed ON document (village, last_feed);

-- Every change, once, by hash. The feed position orders the change feed.
CREATE TABLE change (
    feed BIGSERIAL PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES document (household_id),
    hash BYTEA NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX change_household_feed ON change (household_id, feed);

CREATE TABLE device (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
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
    created_at BIGINT NOT NULL
);

-- The register: plain rows projected from the documents, rewritten in the same
-- transaction as the changes that alter them.
CREATE TABLE household (
    id TEXT PRIMARY KEY REFERENCES document (household_id),
    village TEXT NOT NULL,
    number TEXT NOT NULL,
    head_name TEXT,
    address TEXT,
    member_count BIGINT NOT NULL,
    visit_count BIGINT NOT NULL,
    last_visit_at BIGINT,
    error_count BIGINT NOT NULL,
    warning_count BIGINT NOT NULL,
    conflict_count BIGINT NOT NULL,
    search_text TEXT NOT NULL,
    updated_at BIGINT NOT NULL
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
    wants_work BIGINT,
    wants_training BIGINT,
    PRIMARY KEY (household_id, member_key)
);
CREATE INDEX member_id_number ON member (id_number);
CREATE TABLE visit (
    household_id TEXT NOT NULL REFERENCES household (id),
    visit_id TEXT NOT NULL,
    volunteer TEXT,
    device TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    outcome TEXT,
    PRIMARY KEY (household_id, visit_id)
);
