package api

import (
	"encoding/hex"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Response structs. Each names its JSON fields explicitly; domain structs
// are never serialised, so password hashes, token hashes, failed-login
// counters and any field added later stay out of responses unless added
// here on purpose. Times are RFC 3339 in UTC; an unset time is null. Lists
// are never null.

// timestamp formats t as RFC 3339 UTC, or nil (JSON null) for the zero time.
func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// date formats a calendar date as YYYY-MM-DD, or nil for the zero time.
func date(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.DateOnly)
	return &s
}

// mapSlice converts a slice with f; the result is never nil.
func mapSlice[T, V any](xs []T, f func(T) V) []V {
	out := make([]V, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

type tokenView struct {
	Token     string  `json:"token"`
	TokenType string  `json:"token_type"`
	ExpiresAt *string `json:"expires_at"`
}

type userView struct {
	ID          string   `json:"id"`
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"`
	ClinicIDs   []string `json:"clinic_ids"`
	PatientID   string   `json:"patient_id,omitempty"`
	Disabled    bool     `json:"disabled"`
	CreatedAt   *string  `json:"created_at"`
	Email       string   `json:"email,omitempty"`
	// AwaitingApproval: a therapist account no security officer has
	// approved yet; it reaches no patient.
	AwaitingApproval bool    `json:"awaiting_approval"`
	ApprovedBy       string  `json:"approved_by,omitempty"`
	ApprovedAt       *string `json:"approved_at,omitempty"`
}

func newUserView(u confidant.User) userView {
	ids := u.ClinicIDs
	if ids == nil {
		ids = []string{}
	}
	return userView{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: string(u.Role),
		ClinicIDs: ids, PatientID: u.PatientID, Disabled: u.Disabled, CreatedAt: timestamp(u.CreatedAt),
		Email: u.Email, AwaitingApproval: u.AwaitingApproval, ApprovedBy: u.ApprovedBy, ApprovedAt: timestamp(u.ApprovedAt),
	}
}

type clinicView struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	City      string  `json:"city"`
	CreatedAt *string `json:"created_at"`
}

func newClinicView(c confidant.Clinic) clinicView {
	return clinicView{ID: c.ID, Name: c.Name, City: c.City, CreatedAt: timestamp(c.CreatedAt)}
}

type patientView struct {
	ID           string  `json:"id"`
	ClinicID     string  `json:"clinic_id"`
	GivenName    string  `json:"given_name"`
	FamilyName   string  `json:"family_name"`
	IdentityCode string  `json:"identity_code"`
	BirthDate    *string `json:"birth_date"`
	Phone        string  `json:"phone"`
	Email        string  `json:"email"`
	Address      string  `json:"address"`
	CreatedAt    *string `json:"created_at"`
}

func newPatientView(p confidant.Patient) patientView {
	return patientView{
		ID: p.ID, ClinicID: p.ClinicID, GivenName: p.GivenName, FamilyName: p.FamilyName,
		IdentityCode: p.IdentityCode, BirthDate: date(p.BirthDate), Phone: p.Phone, Email: p.Email,
		Address: p.Address, CreatedAt: timestamp(p.CreatedAt),
	}
}

type careView struct {
	ID          string  `json:"id"`
	PatientID   string  `json:"patient_id"`
	TherapistID string  `json:"therapist_id"`
	ClinicID    string  `json:"clinic_id"`
	From        *string `json:"from"`
	To          *string `json:"to"`
	Active      bool    `json:"active"`
	CreatedBy   string  `json:"created_by"`
	CreatedAt   *string `json:"created_at"`
	EndedBy     string  `json:"ended_by"`
}

func newCareView(c confidant.CareRelationship) careView {
	return careView{
		ID: c.ID, PatientID: c.PatientID, TherapistID: c.TherapistID, ClinicID: c.ClinicID,
		From: timestamp(c.From), To: timestamp(c.To), Active: c.ActiveAt(time.Now()),
		CreatedBy: c.CreatedBy, CreatedAt: timestamp(c.CreatedAt), EndedBy: c.EndedBy,
	}
}

type noteView struct {
	ID         string        `json:"id"`
	PatientID  string        `json:"patient_id"`
	AuthorID   string        `json:"author_id"`
	SessionAt  *string       `json:"session_at"`
	CreatedAt  *string       `json:"created_at"`
	Status     string        `json:"status"`
	Released   bool          `json:"released"`
	ReleasedAt *string       `json:"released_at"`
	ReleasedBy string        `json:"released_by"`
	Versions   []versionView `json:"versions"`
}

type versionView struct {
	Version   int     `json:"version"`
	Template  string  `json:"template"`
	Body      string  `json:"body"`
	Status    string  `json:"status"`
	AuthorID  string  `json:"author_id"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at"`
	SignedAt  *string `json:"signed_at"`
	SignedBy  string  `json:"signed_by"`
	Reason    string  `json:"reason"`
}

func newNoteView(n confidant.Note) noteView {
	return noteView{
		ID: n.ID, PatientID: n.PatientID, AuthorID: n.AuthorID, SessionAt: timestamp(n.SessionAt),
		CreatedAt: timestamp(n.CreatedAt), Status: string(n.Status()), Released: n.Released(),
		ReleasedAt: timestamp(n.ReleasedAt), ReleasedBy: n.ReleasedBy,
		Versions: mapSlice(n.Versions, func(v confidant.NoteVersion) versionView {
			return versionView{
				Version: v.Version, Template: string(v.Template), Body: v.Body, Status: string(v.Status),
				AuthorID: v.AuthorID, CreatedAt: timestamp(v.CreatedAt), UpdatedAt: timestamp(v.UpdatedAt),
				SignedAt: timestamp(v.SignedAt), SignedBy: v.SignedBy, Reason: v.Reason,
			}
		}),
	}
}

type processNoteView struct {
	ID        string  `json:"id"`
	PatientID string  `json:"patient_id"`
	AuthorID  string  `json:"author_id"`
	Body      string  `json:"body"`
	CreatedAt *string `json:"created_at"`
}

func newProcessNoteView(n confidant.ProcessNote) processNoteView {
	return processNoteView{ID: n.ID, PatientID: n.PatientID, AuthorID: n.AuthorID, Body: n.Body, CreatedAt: timestamp(n.CreatedAt)}
}

type diagnosisView struct {
	ID         string  `json:"id"`
	PatientID  string  `json:"patient_id"`
	Code       string  `json:"code"`
	Title      string  `json:"title"`
	Note       string  `json:"note"`
	Status     string  `json:"status"`
	RecordedBy string  `json:"recorded_by"`
	RecordedAt *string `json:"recorded_at"`
}

func newDiagnosisView(d confidant.Diagnosis) diagnosisView {
	return diagnosisView{
		ID: d.ID, PatientID: d.PatientID, Code: d.Code, Title: d.Title, Note: d.Note,
		Status: string(d.Status), RecordedBy: d.RecordedBy, RecordedAt: timestamp(d.RecordedAt),
	}
}

type planView struct {
	ID            string  `json:"id"`
	PatientID     string  `json:"patient_id"`
	Goals         string  `json:"goals"`
	Interventions string  `json:"interventions"`
	ReviewOn      *string `json:"review_on"`
	AuthorID      string  `json:"author_id"`
	CreatedAt     *string `json:"created_at"`
}

func newPlanView(p confidant.TreatmentPlan) planView {
	return planView{
		ID: p.ID, PatientID: p.PatientID, Goals: p.Goals, Interventions: p.Interventions,
		ReviewOn: date(p.ReviewOn), AuthorID: p.AuthorID, CreatedAt: timestamp(p.CreatedAt),
	}
}

type measureView struct {
	ID         string  `json:"id"`
	PatientID  string  `json:"patient_id"`
	Instrument string  `json:"instrument"`
	Answers    []int   `json:"answers"`
	Score      int     `json:"score"`
	MaxScore   int     `json:"max_score"`
	Severity   string  `json:"severity"`
	RecordedBy string  `json:"recorded_by"`
	TakenAt    *string `json:"taken_at"`
}

func newMeasureView(m confidant.Measure) measureView {
	answers := m.Answers
	if answers == nil {
		answers = []int{}
	}
	return measureView{
		ID: m.ID, PatientID: m.PatientID, Instrument: string(m.Instrument), Answers: answers,
		Score: m.Score, MaxScore: m.Instrument.MaxScore(), Severity: m.Severity,
		RecordedBy: m.RecordedBy, TakenAt: timestamp(m.TakenAt),
	}
}

type attachmentView struct {
	ID          string  `json:"id"`
	PatientID   string  `json:"patient_id"`
	Filename    string  `json:"filename"`
	ContentType string  `json:"content_type"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	UploadedBy  string  `json:"uploaded_by"`
	CreatedAt   *string `json:"created_at"`
}

func newAttachmentView(a confidant.Attachment) attachmentView {
	return attachmentView{
		ID: a.ID, PatientID: a.PatientID, Filename: a.Filename, ContentType: a.ContentType,
		Size: a.Size, SHA256: hex.EncodeToString(a.SHA256), UploadedBy: a.UploadedBy,
		CreatedAt: timestamp(a.CreatedAt),
	}
}

type chartView struct {
	Patient patientView `json:"patient"`
	Care    []careView  `json:"care"`
	Notes   []noteView  `json:"notes"`
	// MoreNotes: older notes exist; GET /patients/{id}/chart?notes=all or
	// GET /patients/{id}/notes returns them all.
	MoreNotes    bool              `json:"more_notes"`
	ProcessNotes []processNoteView `json:"process_notes"`
	Diagnoses    []diagnosisView   `json:"diagnoses"`
	Plans        []planView        `json:"plans"`
	Measures     []measureView     `json:"measures"`
	Attachments  []attachmentView  `json:"attachments"`
	// EmergencyUntil: the chart was opened under a break-the-glass grant,
	// which ends then (null in care).
	EmergencyUntil *string `json:"emergency_until"`
}

func newChartView(c service.Chart) chartView {
	return chartView{
		EmergencyUntil: timestamp(c.EmergencyUntil),
		Patient:        newPatientView(c.Patient),
		Care:           mapSlice(c.Care, newCareView),
		Notes:          mapSlice(c.Notes, newNoteView),
		MoreNotes:      c.MoreNotes,
		ProcessNotes:   mapSlice(c.ProcessNotes, newProcessNoteView),
		Diagnoses:      mapSlice(c.Diagnoses, newDiagnosisView),
		Plans:          mapSlice(c.Plans, newPlanView),
		Measures:       mapSlice(c.Measures, newMeasureView),
		Attachments:    mapSlice(c.Attachments, newAttachmentView),
	}
}

// Collection envelopes.

type patientsView struct {
	Patients []patientView `json:"patients"`
	// NextOffset is set when the page was full and more may follow (clinic
	// listings only).
	NextOffset *int `json:"next_offset,omitempty"`
}

type notesView struct {
	Notes []noteView `json:"notes"`
}

type processNotesView struct {
	ProcessNotes []processNoteView `json:"process_notes"`
}

type clinicsView struct {
	Clinics []clinicView `json:"clinics"`
}

type staffView struct {
	Staff []userView `json:"staff"`
}

type careListView struct {
	Care []careView `json:"care"`
}

type recordView struct {
	Patient patientView `json:"patient"`
	Notes   []noteView  `json:"notes"`
}
