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
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Login sessions, by the hash of their token. A session ends when it expires, when it has
-- been idle too long, or at logout.
CREATE TABLE staff_session (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX staff_session_staff ON staff_session (staff_id);

-- The audit log: append-only. Rows can be neither changed nor deleted before they are six
-- months old (183 days), whoever holds the database connection.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
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
CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    IF OLD.at > extract(epoch FROM now())::BIGINT - 183 * 86400 THEN
        RAISE EXCEPTION 'audit records are kept for at least six months';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
-- TRUNCATE bypasses row triggers.
CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();

-- Operator tokens gave way to staff accounts.
DROP TABLE operator_token;
