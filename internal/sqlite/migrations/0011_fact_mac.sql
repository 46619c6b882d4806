-- 0011_fact_mac: authorization facts a database writer cannot forge
-- (docs/SECURITY.md, "Authorization facts").
--
-- fact_mac is an HMAC-SHA-256, computed by internal/seal under a key held
-- outside the database, over the row's id and its authorization-relevant
-- columns (users: role, patient, clinic memberships, approval, disabled;
-- care: patient, therapist, clinic, from, to; break_glass: therapist,
-- patient, clinic, category, created, expires). A row whose MAC does not
-- verify is treated as absent. Rows from before this migration get their
-- MAC once, when the server that applies it starts (cmd/confidant).
ALTER TABLE users ADD COLUMN fact_mac BLOB;
ALTER TABLE care ADD COLUMN fact_mac BLOB;
ALTER TABLE break_glass ADD COLUMN fact_mac BLOB;
