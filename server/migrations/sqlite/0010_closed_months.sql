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
    closed_at INTEGER NOT NULL,
    PRIMARY KEY (area, month)
);
CREATE TRIGGER closed_month_no_update BEFORE UPDATE ON closed_month
BEGIN
    SELECT RAISE(ABORT, 'a closed month is never changed');
END;
CREATE TRIGGER closed_month_no_delete BEFORE DELETE ON closed_month
BEGIN
    SELECT RAISE(ABORT, 'a closed month is never changed');
END;
