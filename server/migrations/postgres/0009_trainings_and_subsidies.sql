-- Trainings and subsidies as register rows (issue 16): the indicators count trainees,
-- completions, certificates and employment after training, and the subsidy rules check
-- amounts per person and year, in SQL over the whole county. Like members and visits,
-- they are projected from the documents in the transaction that writes their changes.
CREATE TABLE training (
    household_id TEXT NOT NULL REFERENCES household (id),
    training_id TEXT NOT NULL,
    -- The trainee's member key in the same household.
    member_key TEXT,
    institution TEXT,
    trade TEXT,
    model TEXT,
    start_date TEXT,
    end_date TEXT,
    completed BIGINT,
    certificate TEXT,
    employed_on TEXT,
    -- The fewest whole months after the end date by which the trainee was employed (0 when
    -- employed by the end date), computed with the calendar when the row is projected, so
    -- that "employed within N months" is one comparison on both backends.
    months_to_employment BIGINT,
    PRIMARY KEY (household_id, training_id)
);
CREATE TABLE subsidy (
    household_id TEXT NOT NULL REFERENCES household (id),
    subsidy_id TEXT NOT NULL,
    -- The recipient's member key in the same household.
    member_key TEXT,
    kind TEXT,
    year BIGINT,
    amount BIGINT,
    status TEXT,
    PRIMARY KEY (household_id, subsidy_id)
);
-- A member's age at any date, exactly (16 and 60 are the labour age's edges), in SQL:
-- the birth year was already plain; the month and day join it (docs/SECURITY.md says why).
ALTER TABLE member ADD COLUMN birth_month_day TEXT;
-- SQL cannot read documents: every household is projected again at the next start
-- (register::refill_pending), which fills the new rows and column.
INSERT INTO register_refill (household_id)
    SELECT id FROM household WHERE id NOT IN (SELECT household_id FROM register_refill);
