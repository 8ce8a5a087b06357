-- What the village rosters (一库五册) show of a member and no query filters on: education,
-- health, phone, the job's place, trade, start, months and income, contract, insurance,
-- labour brand, the work and training wanted. Kept together as one sealed JSON object
-- (field name → value as stored), since several of them identify a person or are sensitive
-- (docs/SECURITY.md), and a roster opens them all at once.
ALTER TABLE member ADD COLUMN details_sealed BLOB;
-- SQL cannot seal: every household is projected again at the next start
-- (register::refill_pending), which fills the column from its document.
INSERT INTO register_refill (household_id)
    SELECT id FROM household WHERE merged_into IS NULL
    ON CONFLICT (household_id) DO NOTHING;
