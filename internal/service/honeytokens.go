package service

import (
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
	"github.com/confidanthealth/confidant/internal/synth"
)

// Honeytokens (docs/INCIDENTS.md, "Honeytokens"): decoy patients. A decoy
// is an ordinary patient record (same tables, same sealing, synthetic
// Finnish demographics) in a clinic, with no care relationship, that
// looks like any other patient in lists and searches; nobody has a reason
// to open it, so any access to it is suspect (the detector's rule).
// Which patients are decoys is stored as a keyed tag and a sealed id
// (internal/seal), never in the clear, and the access log never names a
// decoy's patient id for its creation.

// HoneytokenView is a decoy as security officers see it.
type HoneytokenView struct {
	confidant.Honeytoken
	GivenName, FamilyName string // the decoy's synthetic name (empty if it cannot be read)
}

// newDecoy returns a synthetic patient in clinicID whose identity code no
// patient has.
func newDecoy(ctx context.Context, tx confidant.Tx, clinicID string, now time.Time) (confidant.Patient, error) {
	var seed [32]byte
	rand.Read(seed[:]) // never returns an error
	rng := mrand.New(mrand.NewChaCha8(seed))
	for range 20 {
		p := synth.Person(rng, nil)
		dup, err := tx.ListPatients(ctx, confidant.PatientFilter{IdentityCode: p.IdentityCode, Limit: 1})
		if err != nil {
			return confidant.Patient{}, err
		}
		if len(dup) == 0 {
			p.ID, p.ClinicID, p.CreatedAt = confidant.NewID(), clinicID, now
			return p, nil
		}
	}
	return confidant.Patient{}, confidant.Errorf(confidant.KindUnavailable, "try_again", "No free identity code was found; try again.")
}

// CreateHoneytokenTx makes a decoy patient in clinicID in tx, created by
// createdBy at now, and records which patient it is. It writes no event:
// callers do (CreateHoneytoken; the demo's seed, which has no actor).
func CreateHoneytokenTx(ctx context.Context, tx confidant.Tx, clinicID, createdBy string, now time.Time) (confidant.Honeytoken, confidant.Patient, error) {
	p, err := newDecoy(ctx, tx, clinicID, now)
	if err != nil {
		return confidant.Honeytoken{}, confidant.Patient{}, err
	}
	if err := tx.CreatePatient(ctx, p); err != nil {
		return confidant.Honeytoken{}, confidant.Patient{}, err
	}
	h := confidant.Honeytoken{ID: confidant.NewID(), PatientID: p.ID, ClinicID: clinicID, CreatedBy: createdBy, CreatedAt: now}
	if err := tx.CreateHoneytoken(ctx, h); err != nil {
		return confidant.Honeytoken{}, confidant.Patient{}, err
	}
	return h, p, nil
}

// CreateHoneytoken makes a decoy patient in clinic clinicID (security
// officers only). Its event (honeytoken.created) names the clinic and the
// honeytoken, not the patient.
func (s *Service) CreateHoneytoken(ctx context.Context, clinicID string) (HoneytokenView, error) {
	a, err := need(ctx, policy.CreateHoneytoken)
	if err != nil {
		return HoneytokenView{}, s.wrote(ctx, ActHoneytokenCreate, "", "", err)
	}
	if !confidant.ValidID(clinicID) {
		return HoneytokenView{}, errUnknownClinic
	}
	now := s.clock()
	var out HoneytokenView
	err = s.update(ctx, func(tx confidant.Tx) error {
		if _, err := tx.Clinic(ctx, clinicID); err != nil {
			if confidant.IsKind(err, confidant.KindNotFound) {
				return errUnknownClinic
			}
			return err
		}
		// Read before any write (so that the call can be staged): the
		// existing decoys, which also loads the key that seals them.
		if _, err := tx.ListHoneytokens(ctx); err != nil {
			return err
		}
		h, p, err := CreateHoneytokenTx(ctx, tx, clinicID, a.UserID, now)
		if err != nil {
			return err
		}
		out = HoneytokenView{Honeytoken: h, GivenName: p.GivenName, FamilyName: p.FamilyName}
		ev := s.event(ctx, ActHoneytokenCreate, "", h.ID, confidant.OutcomeOK)
		ev.ClinicID = clinicID
		return tx.Audit(ev)
	})
	if err := s.wrote(ctx, ActHoneytokenCreate, "", "", err); err != nil {
		return HoneytokenView{}, err
	}
	return out, nil
}

var errUnknownClinic = confidant.Errorf(confidant.KindInvalid, "invalid_clinic", "Unknown clinic.")

// ListHoneytokens returns the decoys, newest first, to security officers
// and the data protection officer (one event, honeytoken.list, naming no
// patient). A tampered row is listed with Tampered set and no patient.
func (s *Service) ListHoneytokens(ctx context.Context) ([]HoneytokenView, error) {
	if _, err := need(ctx, policy.ListHoneytokens); err != nil {
		return nil, s.wrote(ctx, ActHoneytokenList, "", "", err)
	}
	var out []HoneytokenView
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		hs, err := tx.ListHoneytokens(ctx)
		if err != nil {
			return err
		}
		out = make([]HoneytokenView, 0, len(hs))
		for _, h := range hs {
			v := HoneytokenView{Honeytoken: h}
			if h.PatientID != "" {
				p, err := tx.Patient(ctx, h.PatientID)
				if err != nil && !confidant.IsKind(err, confidant.KindNotFound) {
					return err
				}
				v.GivenName, v.FamilyName = p.GivenName, p.FamilyName
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.event(ctx, ActHoneytokenList, "", "", confidant.OutcomeOK)); err != nil {
		return nil, err
	}
	return out, nil
}

// HoneytokenIDs returns the patient ids of the decoys (tampered rows left
// out), for the detector: a system call that needs no actor and writes no
// event, since it returns nothing a caller outside the process sees. It
// must not be exposed to a transport.
func (s *Service) HoneytokenIDs(ctx context.Context) (map[string]bool, error) {
	m := map[string]bool{}
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		hs, err := tx.ListHoneytokens(ctx)
		if err != nil {
			return err
		}
		clear(m)
		for _, h := range hs {
			if !h.Tampered && h.PatientID != "" {
				m[h.PatientID] = true
			}
		}
		return nil
	})
	return m, err
}

// IsHoneytoken reports whether patientID is a decoy, in tx: one indexed
// lookup (a system call for the detector, no actor, no event).
func (s *Service) IsHoneytoken(ctx context.Context, tx confidant.Tx, patientID string) (bool, error) {
	return tx.IsHoneytoken(ctx, patientID)
}
