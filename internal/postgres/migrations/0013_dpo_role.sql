-- 0013_dpo_role: the data protection officer's role ('dpo'; docs/INCIDENTS.md).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('therapist', 'patient', 'manager', 'security', 'dpo'));
