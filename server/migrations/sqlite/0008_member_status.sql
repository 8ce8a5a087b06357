-- Member status (schema `members.<key>.status`): a member who moved out, died or was entered
-- by mistake keeps their row, as history, but leaves counts, searches and the export roster.
-- Rows written before this migration hold members without a status, who are present.
ALTER TABLE member ADD COLUMN status TEXT NOT NULL DEFAULT '01';
ALTER TABLE member ADD COLUMN left_on TEXT;
-- Where a member moved is free text that, with a name, finds a person: sealed like the
-- employer (docs/SECURITY.md).
ALTER TABLE member ADD COLUMN moved_to_sealed BLOB;
