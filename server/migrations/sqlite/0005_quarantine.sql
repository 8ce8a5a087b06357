-- Quarantine: changes a device uploaded that screening refused (server/src/screen.rs), held
-- for county staff to release or discard. Nothing a device sends is dropped: a refused change
-- waits here, with why, until someone decides. The bytes are sealed like every change row.
--
-- An item's id is its change's hash (hex), so a change sent again is the same item.
-- status: open, released (applied as sent), discarded (applied, then undone by a staff
-- change), accepted (sent again later by a device allowed to write it).
CREATE TABLE quarantine (
    hash TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    village TEXT NOT NULL,
    device_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    bytes BLOB NOT NULL,
    rule TEXT NOT NULL,
    reason_zh TEXT NOT NULL,
    reason_en TEXT NOT NULL,
    waits_for TEXT,
    received_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    decided_by TEXT,
    decided_at INTEGER,
    comment TEXT,
    -- For a discarded change: the staff change that undid it.
    undone_by TEXT
);
CREATE INDEX quarantine_area ON quarantine (status, village, received_at);
CREATE INDEX quarantine_household ON quarantine (household_id, status);
