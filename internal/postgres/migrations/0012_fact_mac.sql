-- 0012_fact_mac: authorization facts a database writer cannot forge
-- (docs/SECURITY.md, "Authorization facts"); as SQLite's 0011_fact_mac.
ALTER TABLE users ADD COLUMN fact_mac bytea;
ALTER TABLE care_relationships ADD COLUMN fact_mac bytea;
ALTER TABLE break_glass ADD COLUMN fact_mac bytea;
