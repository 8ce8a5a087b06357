-- Enrolling phones with one-time codes, revoking them, and moving them between villages
-- (server/src/enrollment.rs).

-- A code township staff hand a volunteer. Only its hash is kept: a copy of the database does
-- not enrol a phone. It works once (`used_at`, and the device it made) and until `expires_at`.
CREATE TABLE enrollment_code (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    volunteer TEXT NOT NULL,
    -- village codes, comma-separated: the villages the device will get
    villages TEXT NOT NULL,
    -- the staff account that made it (`staff.id`), or `operator` from the command line
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    device_id TEXT REFERENCES device (id)
);

-- An enrolled device is bound to its phone's Automerge actor: a token copied to another
-- install does not sync. Devices made with `doorstep device add` have none.
ALTER TABLE device ADD COLUMN actor TEXT;
ALTER TABLE device ADD COLUMN volunteer TEXT NOT NULL DEFAULT '';
ALTER TABLE device ADD COLUMN revoked_by TEXT;
ALTER TABLE device ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';
-- 1: a revoked device is told to erase its data at its next contact (0: only refused)
ALTER TABLE device ADD COLUMN wipe_requested BIGINT NOT NULL DEFAULT 0;
-- when a revoked device was first told so
ALTER TABLE device ADD COLUMN wipe_sent_at BIGINT;
ALTER TABLE device ADD COLUMN last_seen_at BIGINT;
-- One live device per actor: two would write the same actor's sequence numbers twice.
CREATE UNIQUE INDEX device_actor ON device (actor) WHERE revoked_at IS NULL;

-- Villages taken from a device. For a while it may still upload households of these (edits
-- made before the reassignment must reach the server); the feed no longer sends them.
CREATE TABLE device_village_removed (
    device_id TEXT NOT NULL REFERENCES device (id),
    village TEXT NOT NULL,
    removed_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, village)
);
