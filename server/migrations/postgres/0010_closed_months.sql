-- Closed months (issue 16): a county admin closes a month, and the indicators of the area
-- as of its last day are kept here as they were, to be printed again unchanged. A later
-- correction of the register shows as a difference against them, never by changing them:
-- a row is never updated, and never deleted.
CREATE TABLE closed_month (
    area TEXT NOT NULL,
    -- YYYY-MM
    month TEXT NOT NULL,
    -- The indicators as JSON (server/src/reports/indicators.rs), exactly as computed.
    figures TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    closed_at BIGINT NOT NULL,
    PRIMARY KEY (area, month)
);
CREATE FUNCTION closed_month_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a closed month is never changed';
END;
$$;
CREATE TRIGGER closed_month_guard BEFORE UPDATE OR DELETE ON closed_month
FOR EACH ROW EXECUTE FUNCTION closed_month_guard();
CREATE TRIGGER closed_month_no_truncate BEFORE TRUNCATE ON closed_month
FOR EACH STATEMENT EXECUTE FUNCTION closed_month_guard();
