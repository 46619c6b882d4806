-- 0018_address_index: the address as a blind index, for the detector's
-- staff_close rule (docs/INCIDENTS.md): a staff member opening the record
-- of a patient who lives at their address. Compared for equality only,
-- never searched, so there is no SQL index on it. NULL: no address (or an
-- erased patient: ErasePatient clears it with the other indexes).
ALTER TABLE patients ADD COLUMN address_index bytea;

-- A staff member's address, as the blind index a patient living there has
-- (internal/seal; same key, same width, same normalisation); the address
-- itself is never stored. NULL: none given.
ALTER TABLE users ADD COLUMN address_index bytea;

-- The patients written before this migration, whose address index only
-- internal/seal can compute (it decrypts the address): its backfill takes
-- each off this list in the transaction that sets its index, so that an
-- interrupted backfill resumes where it stopped and a finished one costs
-- one empty query per start. Ids only.
CREATE TABLE address_index_pending (
    patient_id text NOT NULL PRIMARY KEY
);
INSERT INTO address_index_pending (patient_id) SELECT id FROM patients WHERE erased_at IS NULL;
