package service

import (
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// searchLimit bounds the results of one search.
const searchLimit = 50

// PatientInput is what a user submits to create a patient.
type PatientInput struct {
	ClinicID     string
	GivenName    string
	FamilyName   string
	IdentityCode string
	Phone        string
	Email        string
	Address      string
}

// MyPatients returns the patients in an active care relationship with the
// acting therapist, ordered by family name.
func (s *Service) MyPatients(ctx context.Context) ([]confidant.Patient, error) {
	a, err := need(ctx, policy.ListOwnPatients)
	if err != nil {
		return nil, err
	}
	var ps []confidant.Patient
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		ps, err = tx.ListPatientsForTherapist(ctx, a.UserID, s.clock(), confidant.PatientFilter{})
		return err
	})
	if err := s.done(ctx, ActPatientsList, "", "", err); err != nil {
		return nil, err
	}
	return ps, nil
}

// SearchPatients searches the acting therapist's own patients by identity
// code or by family name, optionally followed by a birth year ("Virtanen
// 1985"). Identifying fields are encrypted and searched through blind
// indexes, so both are exact matches (case and spacing do not matter).
// Patients outside the therapist's active care relationships are never
// found.
//
// The search is recorded as its kind (ActSearchByName or ActSearchByCode)
// and whom it found, one event for each patient found, with that patient
// as the subject (so it is in the patient's access history), or a single
// event without a patient if it found nobody. What was typed identifies a
// person and is recorded nowhere, not even sealed: security officers read
// the sealed text too.
func (s *Service) SearchPatients(ctx context.Context, q string) ([]confidant.Patient, error) {
	a, err := need(ctx, policy.SearchPatients)
	if err != nil {
		return nil, err
	}
	f, err := parseQuery(q)
	if err != nil {
		return nil, err
	}
	f.Limit = searchLimit
	var ps []confidant.Patient
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		ps, err = tx.ListPatientsForTherapist(ctx, a.UserID, s.clock(), f)
		return err
	})
	if err != nil {
		return nil, err
	}
	action := ActSearchByName
	if f.IdentityCode != "" {
		action = ActSearchByCode
	}
	evs := make([]confidant.AuditEvent, 0, max(1, len(ps)))
	for _, p := range ps {
		evs = append(evs, s.event(ctx, action, p.ID, "", confidant.OutcomeOK))
	}
	if len(evs) == 0 {
		evs = append(evs, s.event(ctx, action, "", "", confidant.OutcomeOK))
	}
	if err := s.record(ctx, evs...); err != nil {
		return nil, err
	}
	return ps, nil
}

// CreatePatient registers a patient. A therapist registers into one of their
// own clinics and is given a care relationship starting now; a manager
// registers into a clinic they manage.
func (s *Service) CreatePatient(ctx context.Context, in PatientInput) (confidant.Patient, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.Patient{}, err
	}
	if in.ClinicID == "" && len(a.ClinicIDs) == 1 {
		in.ClinicID = a.ClinicIDs[0]
	}
	if err := policy.Check(a, policy.CreatePatient, policy.Facts{InClinic: a.InClinic(in.ClinicID), Approved: actorFacts(a).Approved}); err != nil {
		return confidant.Patient{}, err
	}
	if a.Role == confidant.RoleTherapist && !a.InClinic(in.ClinicID) {
		return confidant.Patient{}, confidant.Errorf(confidant.KindInvalid, "invalid_clinic", "Choose one of your clinics.")
	}
	p, err := validatePatient(in)
	if err != nil {
		return confidant.Patient{}, err
	}
	now := s.clock()
	if err := s.registrationBudget(ctx, a, now); err != nil {
		return confidant.Patient{}, err
	}
	p.ID = confidant.NewID()
	p.CreatedAt = now
	var taken confidant.Patient // the patient who has the identity code already
	err = s.update(ctx, func(tx confidant.Tx) error {
		taken = confidant.Patient{}
		if _, err := tx.Clinic(ctx, p.ClinicID); err != nil {
			if confidant.IsKind(err, confidant.KindNotFound) {
				return confidant.Errorf(confidant.KindInvalid, "invalid_clinic", "Unknown clinic.")
			}
			return err
		}
		dup, err := tx.ListPatients(ctx, confidant.PatientFilter{IdentityCode: p.IdentityCode, Limit: 1})
		if err != nil {
			return err
		}
		if len(dup) > 0 {
			taken = dup[0]
			return errIdentityCodeTaken
		}
		if err := tx.CreatePatient(ctx, p); err != nil {
			return err
		}
		if a.Role == confidant.RoleTherapist {
			if err := tx.CreateCare(ctx, confidant.CareRelationship{
				ID: confidant.NewID(), PatientID: p.ID, TherapistID: a.UserID, ClinicID: p.ClinicID,
				From: now, CreatedBy: a.UserID, CreatedAt: now,
			}); err != nil {
				return err
			}
		}
		return s.auditTx(ctx, tx, ActPatientCreate, p.ID, "")
	})
	if taken.ID != "" && confidant.CodeOf(err) == "identity_code_taken" {
		// The refusal tells the actor that this identity code is a patient
		// (perhaps of another clinic): it goes on that patient's access
		// history, with the actor and the clinic they tried.
		ev := s.event(ctx, ActIdentityCodeTaken, taken.ID, "", confidant.OutcomeDenied)
		ev.ClinicID = p.ClinicID
		if rerr := s.record(ctx, ev); rerr != nil {
			return confidant.Patient{}, rerr
		}
		return confidant.Patient{}, err
	}
	if err := s.wrote(ctx, ActPatientCreate, "", "", err); err != nil {
		return confidant.Patient{}, err
	}
	return p, nil
}

// errIdentityCodeTaken refuses to register an identity code that a patient
// already has (in any clinic).
var errIdentityCodeTaken = confidant.Errorf(confidant.KindConflict, "identity_code_taken", "A patient with this identity code is already registered.")

// registrationBudget refuses a registration (429 registration_rate_limited,
// with Retry-After) when the actor has made cfg.RegistrationsPerHour
// attempts in the last hour: registrations and refusals of an identity code
// that was taken, counted from the access log, so that every server of a
// database sees the same count. It bounds how fast one account can probe
// which identity codes belong to patients.
func (s *Service) registrationBudget(ctx context.Context, a confidant.Actor, now time.Time) error {
	if s.auditRead == nil {
		return confidant.ErrNoAccessLog
	}
	limit := s.cfg.RegistrationsPerHour
	from := now.Add(-time.Hour)
	var oldest time.Time
	n := 0
	for _, act := range []string{ActPatientCreate, ActIdentityCodeTaken} {
		evs, err := s.auditRead.Query(ctx, confidant.EventFilter{ActorID: a.UserID, Action: act, From: from, Limit: limit + 1})
		if err != nil {
			return err
		}
		n += len(evs)
		for _, ev := range evs {
			if oldest.IsZero() || ev.Time.Before(oldest) {
				oldest = ev.Time
			}
		}
	}
	if n < limit {
		return nil
	}
	wait := max(oldest.Add(time.Hour).Sub(now), time.Second)
	return confidant.Wrap(&confidant.RetryAfterError{After: wait.Round(time.Second)}, confidant.KindRateLimited,
		"registration_rate_limited", fmt.Sprintf("Too many patient registrations from your account: at most %d an hour. Please try again later.", limit))
}

// Patient returns a patient's demographics: to a therapist in active care, to
// the patient themself, and to a manager of the patient's clinic.
func (s *Service) Patient(ctx context.Context, id string) (confidant.Patient, error) {
	ctx = withEmergency(ctx)
	a, err := actor(ctx)
	if err != nil {
		return confidant.Patient{}, err
	}
	act := policy.ReadDemographics
	if a.Role == confidant.RoleManager {
		act = policy.ListPatientsAdm
	}
	var p confidant.Patient
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		_, p, err = s.authorizePatient(ctx, tx, id, act)
		return err
	})
	if err := s.done(ctx, ActPatientRead, id, "", err); err != nil {
		return confidant.Patient{}, err
	}
	return p, nil
}

// ClinicPatients lists the patients of a clinic the acting manager manages
// (demographics only) in registration order, optionally filtered by a query
// as in SearchPatients.
func (s *Service) ClinicPatients(ctx context.Context, clinicID, name string, limit, offset int) ([]confidant.Patient, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := policy.Check(a, policy.ListPatientsAdm, policy.Facts{InClinic: a.InClinic(clinicID)}); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	f := confidant.PatientFilter{ClinicID: clinicID, Limit: limit, Offset: offset}
	if strings.TrimSpace(name) != "" {
		q, err := parseQuery(name)
		if err != nil {
			return nil, err
		}
		f.IdentityCode, f.FamilyName, f.BirthYear = q.IdentityCode, q.FamilyName, q.BirthYear
	}
	var ps []confidant.Patient
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		ps, err = tx.ListPatients(ctx, f)
		return err
	})
	if err := s.done(ctx, ActPatientsClinic, "", "", err); err != nil {
		return nil, err
	}
	return ps, nil
}

func validatePatient(in PatientInput) (confidant.Patient, error) {
	p := confidant.Patient{
		ClinicID:   in.ClinicID,
		GivenName:  strings.Join(strings.Fields(in.GivenName), " "),
		FamilyName: strings.Join(strings.Fields(in.FamilyName), " "),
		Phone:      strings.TrimSpace(in.Phone),
		Email:      strings.TrimSpace(in.Email),
		Address:    strings.TrimSpace(in.Address),
	}
	if err := checkText("given_name", "Given name", p.GivenName, 1, 100); err != nil {
		return p, err
	}
	if err := checkText("family_name", "Family name", p.FamilyName, 1, 100); err != nil {
		return p, err
	}
	code, birth, err := confidant.ParseIdentityCode(in.IdentityCode)
	if err != nil {
		return p, err
	}
	p.IdentityCode, p.BirthDate = code, birth
	if p.Phone != "" {
		if len(p.Phone) > 32 || strings.ContainsFunc(p.Phone, func(r rune) bool {
			return !unicode.IsDigit(r) && !strings.ContainsRune("+ -()", r)
		}) {
			return p, confidant.Errorf(confidant.KindInvalid, "invalid_phone", "The phone number may contain only digits, spaces and + - ( ).")
		}
	}
	if p.Email != "" {
		if addr, err := mail.ParseAddress(p.Email); err != nil || addr.Address != p.Email || len(p.Email) > 254 {
			return p, confidant.Errorf(confidant.KindInvalid, "invalid_email", "The email address is not valid.")
		}
	}
	if err := checkText("address", "Address", p.Address, 0, 300); err != nil {
		return p, err
	}
	return p, nil
}

// checkText validates a free-text field: valid UTF-8, no control characters
// other than newline and tab, length in runes within [min, max].
func checkText(code, label, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return confidant.Errorf(confidant.KindInvalid, "invalid_"+code, "%s contains invalid characters.", label)
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		return confidant.Errorf(confidant.KindInvalid, "missing_"+code, "%s is required.", label)
	}
	if n > max {
		return confidant.Errorf(confidant.KindInvalid, "invalid_"+code, "%s can be at most %d characters.", label, max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' }) {
		return confidant.Errorf(confidant.KindInvalid, "invalid_"+code, "%s contains invalid characters.", label)
	}
	return nil
}

// parseQuery turns a search box into a filter: a whole identity code, or a
// family name optionally followed by a four-digit birth year.
func parseQuery(q string) (confidant.PatientFilter, error) {
	q = strings.TrimSpace(q)
	if code, _, err := confidant.ParseIdentityCode(q); err == nil {
		return confidant.PatientFilter{IdentityCode: code}, nil
	}
	f := confidant.PatientFilter{}
	fields := strings.Fields(q)
	if n := len(fields); n > 1 && len(fields[n-1]) == 4 {
		if y, err := strconv.Atoi(fields[n-1]); err == nil && y >= 1800 && y <= 2100 {
			f.BirthYear = y
			fields = fields[:n-1]
		}
	}
	f.FamilyName = confidant.NormalizeName(strings.Join(fields, " "))
	if utf8.RuneCountInString(f.FamilyName) < 2 || len(f.FamilyName) > 100 {
		return f, confidant.Errorf(confidant.KindInvalid, "invalid_query", "Search by a whole family name (optionally with a birth year, e.g. Virtanen 1985) or a whole identity code.")
	}
	return f, nil
}
