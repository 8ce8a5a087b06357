-- The subsidies as policy §五(十二)(十三) sets them (issue 16).
--
-- The yearly parameters are settings a county admin edits (every edit audited), not
-- constants: the caps are the policy's maxima, which a county may pay less than, and the
-- provincial average wage is published once a year. Each year starts with the policy's
-- maxima and no average wage: the base floor is checked once an admin sets it.
CREATE TABLE subsidy_settings (
    year BIGINT PRIMARY KEY,
    transport_cap BIGINT NOT NULL,
    service_cap BIGINT NOT NULL,
    insurance_share_numerator BIGINT NOT NULL,
    insurance_share_denominator BIGINT NOT NULL,
    insurance_max_years BIGINT NOT NULL,
    base_floor_percent BIGINT NOT NULL,
    -- Yuan a year; NULL until set.
    average_wage BIGINT,
    updated_at BIGINT NOT NULL,
    -- Who last edited the year: `staff:<username>`, `operator`, or `policy` for the seed.
    updated_by TEXT NOT NULL
);
INSERT INTO subsidy_settings (year, transport_cap, service_cap, insurance_share_numerator,
        insurance_share_denominator, insurance_max_years, base_floor_percent, average_wage,
        updated_at, updated_by)
VALUES
    (2017, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2018, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2019, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2020, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2021, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2022, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2023, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2024, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2025, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2026, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2027, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2028, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2029, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy'),
    (2030, 800, 300, 2, 3, 3, 40, NULL, 0, 'policy');

-- What the rules and the eligibility report read, from layout 2 (docs/LAYOUT.md): a
-- social insurance subsidy's insurance, monthly base and the contribution paid that year;
-- a member's job channel, and the area codes beside the place texts.
ALTER TABLE subsidy ADD COLUMN insurance_type TEXT;
ALTER TABLE subsidy ADD COLUMN contribution_base BIGINT;
ALTER TABLE subsidy ADD COLUMN contribution BIGINT;
CREATE INDEX subsidy_year ON subsidy (year, household_id);
ALTER TABLE member ADD COLUMN employment_channel TEXT;
ALTER TABLE member ADD COLUMN employment_place_area TEXT;
ALTER TABLE member ADD COLUMN moved_to_area TEXT;
-- SQL cannot read documents: every household is projected again at the next start.
INSERT INTO register_refill (household_id)
    SELECT id FROM household WHERE id NOT IN (SELECT household_id FROM register_refill);
