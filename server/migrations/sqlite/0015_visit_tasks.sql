-- Visit tasks (issue 17, ADR 0010) as register rows: a task lives in its household's
-- document (`tasks.<id>.*`), and like members and visits it is projected into this table
-- in the transaction that writes its household's changes, so the progress page counts
-- tasks per village in SQL and never reads a document. No household holds a task before
-- this migration, so nothing needs projecting again.
CREATE TABLE visit_task (
    household_id TEXT NOT NULL REFERENCES household (id),
    task_id TEXT NOT NULL,
    -- The member the task is about, by key in the same household.
    member_key TEXT,
    -- open, settled, checked or closed (the task_status code list).
    status TEXT NOT NULL,
    source TEXT,
    -- The comparison's mismatch id, for a task the comparison opened.
    mismatch_id TEXT,
    field TEXT,
    check_zh TEXT,
    check_en TEXT,
    opened_at INTEGER,
    closed_at INTEGER,
    closed_by TEXT,
    PRIMARY KEY (household_id, task_id)
);
CREATE INDEX visit_task_by_status ON visit_task (status, household_id);
