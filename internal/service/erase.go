package service

import (
	"context"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Retention says how long patient records must be kept before they may be
// erased (crypto-shredded).
//
// The default follows the Finnish rule for patient documents (Decree of the
// Ministry of Social Affairs and Health on patient documents 94/2022):
// records are kept for 12 years after the patient's death or, when the date
// of death is not known, for 120 years after birth.
type Retention struct {
	YearsAfterDeath int // with a known date of death
	YearsAfterBirth int // otherwise
}

// DefaultRetention is the Finnish rule.
var DefaultRetention = Retention{YearsAfterDeath: 12, YearsAfterBirth: 120}

// ErasableFrom returns the first day a patient's records may be erased.
func (r Retention) ErasableFrom(birth, death time.Time) time.Time {
	if !death.IsZero() {
		return death.AddDate(r.YearsAfterDeath, 0, 0)
	}
	return birth.AddDate(r.YearsAfterBirth, 0, 0)
}

// OperatorErasePatient crypto-shreds a patient: the patient's wrapped
// keyset is deleted, so every sealed record of the patient, in the database
// and in every backup, can never be decrypted again once the KEK versions
// that wrapped it are retired. It is refused until the retention period has
// passed (death is the date of death if known). Like OperatorCreateUser it
// is for the operator's command line only. The erasure is recorded on the
// patient row (erased_at) and in the log.
func (s *Service) OperatorErasePatient(ctx context.Context, patientID string, death time.Time) error {
	if err := checkID(patientID); err != nil {
		return err
	}
	now := s.clock()
	err := s.update(ctx, func(tx confidant.Tx) error {
		p, err := tx.Patient(ctx, patientID)
		if err != nil {
			return err
		}
		if p.Erased() {
			return confidant.Errorf(confidant.KindConflict, "already_erased", "This patient has already been erased.")
		}
		if !death.IsZero() && (death.After(now) || death.Before(p.BirthDate)) {
			return confidant.Errorf(confidant.KindInvalid, "invalid_death_date", "The date of death must be between birth and today.")
		}
		if from := s.cfg.Retention.ErasableFrom(p.BirthDate, death); now.Before(from) {
			return confidant.Errorf(confidant.KindConflict, "retention_period",
				"The retention period has not passed: these records may be erased from %s.", from.Format(time.DateOnly))
		}
		if err := tx.ErasePatient(ctx, patientID, now); err != nil {
			return err
		}
		ev := s.event(ctx, ActPatientErase, patientID, "", confidant.OutcomeOK)
		ev.Role, ev.Purpose = "operator", "crypto-shredding after the retention period"
		return tx.Audit(ev)
	})
	if err != nil {
		return err
	}
	s.log.Info("patient erased (crypto-shredded)", slog.String("patient", patientID))
	return nil
}
