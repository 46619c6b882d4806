-- 0003_drop_legacy: the end of the upgrade from schema 1 (see 0002_sealed).
-- Every v1 patient has been sealed into the new tables and deleted from the
-- v1_ tables, so the foreign keys of the kept tables can be validated
-- against the new patients table and the v1_ tables dropped.
--
-- Migrate checks DB.LegacyPending before applying this and returns
-- ErrLegacyPending instead; the check below guards the SQL on its own.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM v1_patients) THEN
        RAISE EXCEPTION 'patients of schema version 1 remain to be sealed'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;

ALTER TABLE users VALIDATE CONSTRAINT users_patient_fkey;
ALTER TABLE care_relationships VALIDATE CONSTRAINT care_patient_fkey;

DROP TABLE v1_attachment_chunks, v1_attachments, v1_measures, v1_treatment_plans,
    v1_diagnoses, v1_process_notes, v1_note_versions, v1_notes, v1_patients;
