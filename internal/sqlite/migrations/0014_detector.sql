-- 0014_detector: the watermarks of the detector that watches the access log
-- (internal/detect; docs/INCIDENTS.md, "Detection rules"): for each named
-- detector, the index of the next event it will process. Every server of a
-- database advances the same row with a conditional update, so that each
-- event is processed once in total. No patient data.
CREATE TABLE detector_state (
    name       TEXT    PRIMARY KEY,
    next_index INTEGER NOT NULL CHECK (next_index >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

-- A staff member's identity code, as the blind index patients' identity
-- codes have (internal/seal; same key, same width), so that the detector's
-- staff_close rule recognises a staff member opening their own record or a
-- colleague's without the code being stored. NULL: none given.
ALTER TABLE users ADD COLUMN identity_index BLOB;
