package service

import (
	"context"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/icd10"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Chart is everything a therapist in care sees about a patient. Process
// notes are the acting therapist's own only.
type Chart struct {
	Patient confidant.Patient
	Care    []confidant.CareRelationship
	// Notes are the ChartNotes most recent session notes, newest session
	// first, or all of them with AllNotes. MoreNotes says that older ones
	// were left out (Notes lists them all).
	Notes        []confidant.Note
	MoreNotes    bool
	ProcessNotes []confidant.ProcessNote
	Diagnoses    []confidant.Diagnosis     // newest first
	Plans        []confidant.TreatmentPlan // newest first; Plans[0] is current
	Measures     []confidant.Measure       // oldest first
	Attachments  []confidant.Attachment    // newest first
	// EmergencyUntil is set when the chart was opened under a
	// break-the-glass grant (no care relationship): when that access ends.
	EmergencyUntil time.Time
}

// ChartNotes is how many of the most recent session notes a chart holds.
// Opening a chart decrypts every note it holds, and a patient in long
// therapy has hundreds: a chart shows the recent sessions, and the rest are
// one click (AllNotes) away. See docs/BENCHMARKS.md.
const ChartNotes = 10

// ChartOption changes what Chart loads.
type ChartOption func(*chartOptions)

type chartOptions struct{ allNotes bool }

// AllNotes makes Chart hold every session note, not only the ChartNotes
// most recent.
func AllNotes() ChartOption { return func(o *chartOptions) { o.allNotes = true } }

// Chart opens a patient's chart for a therapist in active care.
func (s *Service) Chart(ctx context.Context, patientID string, opts ...ChartOption) (Chart, error) {
	ctx = withEmergency(ctx)
	var o chartOptions
	for _, opt := range opts {
		opt(&o)
	}
	limit := ChartNotes + 1 // one more, to learn whether there are more
	if o.allNotes {
		limit = 0
	}
	var c Chart
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		a, p, f, err := s.authorize(ctx, tx, patientID, policy.ReadChart)
		if err != nil {
			return err
		}
		c.Patient = p
		c.EmergencyUntil = time.Time{}
		if g, ok := emergencyFor(ctx, p.ID); ok {
			c.EmergencyUntil = g.ExpiresAt
		}
		if c.Care, err = tx.ListCare(ctx, confidant.CareFilter{PatientID: p.ID}); err != nil {
			return err
		}
		if c.Notes, err = tx.ListNotes(ctx, p.ID, confidant.NoteFilter{Limit: limit}); err != nil {
			return err
		}
		if limit > 0 && len(c.Notes) > ChartNotes {
			c.Notes, c.MoreNotes = c.Notes[:ChartNotes], true
		}
		if c.ProcessNotes, err = ownProcessNotes(ctx, tx, a, f, p.ID); err != nil {
			return err
		}
		if c.Diagnoses, err = tx.ListDiagnoses(ctx, p.ID); err != nil {
			return err
		}
		if c.Plans, err = tx.ListPlans(ctx, p.ID); err != nil {
			return err
		}
		if c.Measures, err = tx.ListMeasures(ctx, p.ID); err != nil {
			return err
		}
		c.Attachments, err = tx.ListAttachments(ctx, p.ID)
		return err
	})
	if err := s.done(ctx, ActChartRead, patientID, "", err); err != nil {
		return Chart{}, err
	}
	return c, nil
}

// CreateProcessNote stores a private process note that only the acting
// therapist will ever be able to read.
func (s *Service) CreateProcessNote(ctx context.Context, patientID, body string) (confidant.ProcessNote, error) {
	ctx = withEmergency(ctx)
	if err := checkText("body", "The process note", body, 1, maxNoteRunes); err != nil {
		return confidant.ProcessNote{}, err
	}
	var n confidant.ProcessNote
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WriteProcessNote)
		if err != nil {
			return err
		}
		n = confidant.ProcessNote{ID: confidant.NewID(), PatientID: p.ID, AuthorID: a.UserID, Body: body, CreatedAt: s.clock()}
		if err := tx.CreateProcessNote(ctx, n); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActProcessCreate, p.ID, n.ID)
	})
	if err := s.wrote(ctx, ActProcessCreate, patientID, "", err); err != nil {
		return confidant.ProcessNote{}, err
	}
	return n, nil
}

// ProcessNotes returns the acting therapist's own process notes on a patient.
func (s *Service) ProcessNotes(ctx context.Context, patientID string) ([]confidant.ProcessNote, error) {
	ctx = withEmergency(ctx)
	var ns []confidant.ProcessNote
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		a, p, f, err := s.authorize(ctx, tx, patientID, policy.WriteProcessNote)
		if err != nil {
			return err
		}
		ns, err = ownProcessNotes(ctx, tx, a, f, p.ID)
		return err
	})
	if err := s.done(ctx, ActProcessRead, patientID, "", err); err != nil {
		return nil, err
	}
	return ns, nil
}

// AddDiagnosis records an ICD-10 chapter F diagnosis; the code must be on
// the shipped code list.
func (s *Service) AddDiagnosis(ctx context.Context, patientID, code, note string) (confidant.Diagnosis, error) {
	ctx = withEmergency(ctx)
	c, ok := icd10.Lookup(code)
	if !ok {
		return confidant.Diagnosis{}, confidant.Errorf(confidant.KindInvalid, "unknown_icd10_code", "Unknown diagnosis code: choose an ICD-10 code from chapter F (F00-F99).")
	}
	note = strings.TrimSpace(note)
	if err := checkText("note", "The comment", note, 0, 2000); err != nil {
		return confidant.Diagnosis{}, err
	}
	var d confidant.Diagnosis
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WriteDiagnosis)
		if err != nil {
			return err
		}
		d = confidant.Diagnosis{
			ID: confidant.NewID(), PatientID: p.ID, Code: c.Code, Title: c.Title, Note: note,
			Status: confidant.DiagnosisActive, RecordedBy: a.UserID, RecordedAt: s.clock(),
		}
		if err := tx.CreateDiagnosis(ctx, d); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActDiagnosisCreate, p.ID, d.ID)
	})
	if err := s.wrote(ctx, ActDiagnosisCreate, patientID, "", err); err != nil {
		return confidant.Diagnosis{}, err
	}
	return d, nil
}

// SetDiagnosisStatus marks a diagnosis active or resolved.
func (s *Service) SetDiagnosisStatus(ctx context.Context, id string, st confidant.DiagnosisStatus) (confidant.Diagnosis, error) {
	ctx = withEmergency(ctx)
	if st != confidant.DiagnosisActive && st != confidant.DiagnosisResolved {
		return confidant.Diagnosis{}, confidant.Errorf(confidant.KindInvalid, "invalid_status", "Unknown diagnosis status.")
	}
	if err := checkID(id); err != nil {
		return confidant.Diagnosis{}, err
	}
	var d confidant.Diagnosis
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, err := actor(ctx)
		if err != nil {
			return err
		}
		if !roleMayEver(a.Role, policy.WriteDiagnosis) {
			return confidant.ErrPermission
		}
		if d, err = tx.Diagnosis(ctx, id); err != nil {
			return sameNotFound(err)
		}
		if _, _, err := s.authorizePatient(ctx, tx, d.PatientID, policy.WriteDiagnosis); err != nil {
			return err
		}
		if err := tx.SetDiagnosisStatus(ctx, id, st); err != nil {
			return err
		}
		d.Status = st
		return s.auditTx(ctx, tx, ActDiagnosisStatus, d.PatientID, d.ID)
	})
	if err := s.wrote(ctx, ActDiagnosisStatus, d.PatientID, id, err); err != nil {
		return confidant.Diagnosis{}, err
	}
	return d, nil
}

// PlanInput is a treatment plan as submitted.
type PlanInput struct {
	Goals         string
	Interventions string
	ReviewOn      time.Time // zero: none
}

// SavePlan stores a new version of a patient's treatment plan.
func (s *Service) SavePlan(ctx context.Context, patientID string, in PlanInput) (confidant.TreatmentPlan, error) {
	ctx = withEmergency(ctx)
	if err := checkText("goals", "Goals", strings.TrimSpace(in.Goals), 1, 20000); err != nil {
		return confidant.TreatmentPlan{}, err
	}
	if err := checkText("interventions", "Interventions", strings.TrimSpace(in.Interventions), 0, 20000); err != nil {
		return confidant.TreatmentPlan{}, err
	}
	var pl confidant.TreatmentPlan
	err := s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WritePlan)
		if err != nil {
			return err
		}
		pl = confidant.TreatmentPlan{
			ID: confidant.NewID(), PatientID: p.ID, Goals: strings.TrimSpace(in.Goals),
			Interventions: strings.TrimSpace(in.Interventions), ReviewOn: in.ReviewOn.UTC().Truncate(time.Microsecond),
			AuthorID: a.UserID, CreatedAt: s.clock(),
		}
		if err := tx.CreatePlan(ctx, pl); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActPlanCreate, p.ID, pl.ID)
	})
	if err := s.wrote(ctx, ActPlanCreate, patientID, "", err); err != nil {
		return confidant.TreatmentPlan{}, err
	}
	return pl, nil
}

// RecordMeasure scores and stores one administration of PHQ-9 or GAD-7.
func (s *Service) RecordMeasure(ctx context.Context, patientID string, in confidant.Instrument, answers []int, takenAt time.Time) (confidant.Measure, error) {
	ctx = withEmergency(ctx)
	score, severity, err := in.Score(answers)
	if err != nil {
		return confidant.Measure{}, err
	}
	now := s.clock()
	takenAt = takenAt.UTC().Truncate(time.Microsecond)
	if takenAt.IsZero() {
		takenAt = now
	}
	if takenAt.After(now.Add(24 * time.Hour)) {
		return confidant.Measure{}, confidant.Errorf(confidant.KindInvalid, "invalid_time", "The date cannot be in the future.")
	}
	var m confidant.Measure
	err = s.update(ctx, func(tx confidant.Tx) error {
		a, p, err := s.authorizePatient(ctx, tx, patientID, policy.WriteMeasure)
		if err != nil {
			return err
		}
		m = confidant.Measure{
			ID: confidant.NewID(), PatientID: p.ID, Instrument: in, Answers: append([]int(nil), answers...),
			Score: score, Severity: severity, RecordedBy: a.UserID, TakenAt: takenAt,
		}
		if err := tx.CreateMeasure(ctx, m); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActMeasureCreate, p.ID, m.ID)
	})
	if err := s.wrote(ctx, ActMeasureCreate, patientID, "", err); err != nil {
		return confidant.Measure{}, err
	}
	return m, nil
}

// Trend summarises one instrument's scores over time.
type Trend struct {
	Instrument confidant.Instrument
	Points     []confidant.Measure // oldest first
	Change     int                 // last score minus first
}

// Trends groups measures by instrument (input oldest first).
func Trends(ms []confidant.Measure) []Trend {
	var out []Trend
	for _, in := range confidant.Instruments {
		t := Trend{Instrument: in}
		for _, m := range ms {
			if m.Instrument == in {
				t.Points = append(t.Points, m)
			}
		}
		if len(t.Points) > 0 {
			t.Change = t.Points[len(t.Points)-1].Score - t.Points[0].Score
			out = append(out, t)
		}
	}
	return out
}

// ownProcessNotes returns the actor's private process notes of a patient:
// those the store lists as theirs that policy.ReadProcessNote allows (the
// author is bound inside each sealed note, so a changed author_id makes
// a note absent in internal/seal).
func ownProcessNotes(ctx context.Context, tx confidant.Tx, a confidant.Actor, f policy.Facts, patientID string) ([]confidant.ProcessNote, error) {
	ns, err := tx.ListProcessNotes(ctx, patientID, a.UserID)
	if err != nil {
		return nil, err
	}
	out := ns[:0]
	for _, n := range ns {
		f.Author = n.AuthorID == a.UserID
		if policy.Check(a, policy.ReadProcessNote, f) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}
