-- 0003_drop_v1: drops the plaintext tables of schema 1, which 0002 renamed
-- to v1_<name>. Migrate applies this only when they hold no patient any more
-- (every patient was sealed by internal/seal and its plaintext rows deleted
-- with DB.DeleteLegacyPatient); see ErrLegacyPending. Children before
-- parents. Connections run with secure_delete on, so the freed pages are
-- overwritten rather than left readable in the file.
DROP TABLE v1_attachment_chunks;
DROP TABLE v1_attachments;
DROP TABLE v1_measure_answers;
DROP TABLE v1_measures;
DROP TABLE v1_plans;
DROP TABLE v1_diagnoses;
DROP TABLE v1_process_notes;
DROP TABLE v1_note_versions;
DROP TABLE v1_notes;
DROP TABLE v1_patients;
