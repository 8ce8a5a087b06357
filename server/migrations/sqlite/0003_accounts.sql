-- Administrative areas: every scope in the system is one of these codes. Loaded from a file
-- (`doorstep areas import`); one real county ships with the server.
CREATE TABLE area (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent TEXT
);
CREATE INDEX area_parent ON area (parent);

-- Staff accounts. Passwords are argon2 hashes; the TOTP secret is sealed by the server's key.
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    disabled_at INTEGER,
    created_at INTEGER NOT NULL
);

-- Login sessions, by the hash of their token. A session ends when it expires, when it has
-- been idle too long, or at logout.
CREATE TABLE staff_session (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE INDEX staff_session_staff ON staff_session (staff_id);

-- The audit log: append-only. Rows can be neither changed nor deleted before they are six
-- months old (183 days), whoever holds the database connection.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    client TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_keep_six_months BEFORE DELETE ON audit_log
WHEN old.at > CAST(strftime('%s', 'now') AS INTEGER) - 183 * 86400
BEGIN
    SELECT RAISE(ABORT, 'audit records are kept for at least six months');
END;

-- Operator tokens gave way to staff accounts.
DROP TABLE operator_token;
