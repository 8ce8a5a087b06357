-- The county review queue: what staff must settle that a CRDT cannot, found at merge time.
-- An item's id is derived from what it is about (kind, household, field or rule), so the same
-- dispute found again is the same item, reopened, never a second one.
CREATE TABLE review_item (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    household_id TEXT NOT NULL,
    other_household_id TEXT,
    village TEXT NOT NULL,
    path TEXT NOT NULL,
    rule TEXT NOT NULL,
    summary_zh TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE INDEX review_item_area ON review_item (status, village, kind);
CREATE INDEX review_item_household ON review_item (household_id);
CREATE INDEX review_item_other ON review_item (other_household_id);

-- Every step of an item's life, kept: who opened, settled, resolved or merged it, with what
-- value and comment. Two staff decisions on one item are both here, never one over the other.
CREATE TABLE review_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES review_item (id),
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX review_event_item ON review_event (item_id, id);

-- Staff identify themselves by their operator token until accounts exist.
ALTER TABLE operator_token ADD COLUMN name TEXT NOT NULL DEFAULT '';

-- A household merged into another stays as a tombstone pointing to the survivor.
ALTER TABLE household ADD COLUMN merged_into TEXT;
