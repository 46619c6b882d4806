package service_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

func TestNoteLifecycle(t *testing.T) {
	w := newWorld(t)
	svc, th := w.Service, w.As(w.Therapist)
	n, err := svc.CreateNote(th, w.PatientA.ID, service.NoteInput{Template: confidant.TemplateSOAP, Body: "Subjective: slept badly"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err = svc.UpdateDraft(th, n.ID, 1, confidant.TemplateSOAP, "Subjective: slept better"); err != nil {
		t.Fatal(err)
	}
	// Only the author signs a draft.
	if err := assign(t, w, w.OtherTherapist, w.PatientA); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignNote(w.As(w.OtherTherapist), n.ID); confidant.CodeOf(err) != "not_author" {
		t.Fatalf("sign by another therapist: %v", err)
	}
	if n, err = svc.SignNote(th, n.ID); err != nil {
		t.Fatal(err)
	}
	// Signed is locked.
	if _, err := svc.UpdateDraft(th, n.ID, 1, confidant.TemplateSOAP, "rewrite history"); confidant.CodeOf(err) != "note_signed" {
		t.Fatalf("edit signed: got %v, want note_signed", err)
	}
	if _, err := svc.SignNote(th, n.ID); confidant.KindOf(err) != confidant.KindConflict {
		t.Fatalf("sign twice: %v", err)
	}
	// Amend: a new signed version; the original stays.
	n, err = svc.AmendNote(w.As(w.OtherTherapist), n.ID, "Subjective: slept better; corrected dose", "dose was wrong")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Versions) != 2 || n.Versions[0].Body != "Subjective: slept better" || n.Versions[1].Reason != "dose was wrong" ||
		n.Versions[1].AuthorID != w.OtherTherapist.ID || n.Versions[1].Status != confidant.NoteSigned {
		t.Fatalf("versions after amend: %+v", n.Versions)
	}
	// The patient sees nothing until release, then the signed versions.
	pat := w.As(w.PatientUser)
	if _, err := svc.Note(pat, n.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("patient before release: %v", err)
	}
	if _, err := svc.ReleaseNote(th, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReleaseNote(th, n.ID); confidant.CodeOf(err) != "already_released" {
		t.Fatalf("release twice: %v", err)
	}
	got, err := svc.Note(pat, n.ID)
	if err != nil || len(got.Versions) != 2 {
		t.Fatalf("patient after release: %v %+v", err, got)
	}
	_, notes, err := svc.MyRecord(pat)
	if err != nil || len(notes) != 1 {
		t.Fatalf("MyRecord: %v, %d notes", err, len(notes))
	}
}

func TestDraftsAreNotReleasable(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	n := mustNote(t, w.Service, th, w.PatientA.ID, false, false)
	if _, err := w.Service.ReleaseNote(th, n.ID); confidant.CodeOf(err) != "note_unsigned" {
		t.Fatalf("release draft: %v", err)
	}
	if _, err := w.Service.AmendNote(th, n.ID, "x", ""); confidant.CodeOf(err) != "note_draft" {
		t.Fatalf("amend draft: %v", err)
	}
	skeleton, err := w.Service.CreateNote(th, w.PatientA.ID, service.NoteInput{Template: confidant.TemplateDAP, Body: confidant.TemplateDAP.Skeleton()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Service.SignNote(th, skeleton.ID); confidant.CodeOf(err) != "empty_note" {
		t.Fatalf("sign empty skeleton: %v", err)
	}
}

func TestProcessNotesOnlyForAuthor(t *testing.T) {
	w := newWorld(t)
	if _, err := w.Service.CreateProcessNote(w.As(w.Therapist), w.PatientA.ID, "my countertransference"); err != nil {
		t.Fatal(err)
	}
	if err := assign(t, w, w.OtherTherapist, w.PatientA); err != nil {
		t.Fatal(err)
	}
	// Another therapist in care sees the chart but not the process note.
	c, err := w.Service.Chart(w.As(w.OtherTherapist), w.PatientA.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ProcessNotes) != 0 {
		t.Fatalf("other therapist sees %d process notes", len(c.ProcessNotes))
	}
	c, err = w.Service.Chart(w.As(w.Therapist), w.PatientA.ID)
	if err != nil || len(c.ProcessNotes) != 1 {
		t.Fatalf("author: %v, %d process notes", err, len(c.ProcessNotes))
	}
}

func TestEndingCareEndsAccess(t *testing.T) {
	w := newWorld(t)
	cs, err := w.Service.CareList(w.As(w.Manager), w.ClinicA.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range cs {
		if c.PatientID == w.PatientA.ID && c.TherapistID == w.Therapist.ID {
			id = c.ID
		}
	}
	if id == "" {
		t.Fatal("no care relationship for patient A")
	}
	if _, err := w.Service.Chart(w.As(w.Therapist), w.PatientA.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Service.EndCare(w.As(w.Manager), id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Service.Chart(w.As(w.Therapist), w.PatientA.ID); confidant.KindOf(err) != confidant.KindNotFound {
		t.Fatalf("chart after care ended: %v", err)
	}
	ps, err := w.Service.MyPatients(w.As(w.Therapist))
	if err != nil || len(ps) != 0 {
		t.Fatalf("my patients after care ended: %v %d", err, len(ps))
	}
	if _, err := w.Service.EndCare(w.As(w.Manager), id); confidant.KindOf(err) != confidant.KindConflict {
		t.Fatalf("end twice: %v", err)
	}
}

func TestSearch(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	for _, q := range []string{"äijälä", " ÄIJÄLÄ ", "Äijälä 1990", w.PatientA.IdentityCode, strings.ToLower(w.PatientA.IdentityCode)} {
		ps, err := w.Service.SearchPatients(th, q)
		if err != nil || len(ps) != 1 || ps[0].ID != w.PatientA.ID {
			t.Errorf("search %q: %v %v", q, err, ps)
		}
	}
	// Search is exact (blind indexes): no prefixes, no given names, and a
	// wrong birth year does not match.
	for _, q := range []string{"ÄIJ", "aino", "Äijälä 1991"} {
		ps, err := w.Service.SearchPatients(th, q)
		if err != nil || len(ps) != 0 {
			t.Errorf("search %q: %v, %d found", q, err, len(ps))
		}
	}
	// Patients outside care are never found, by name or by code.
	for _, q := range []string{"Virtanen", w.PatientC.IdentityCode, "Korhonen", w.PatientB.IdentityCode} {
		ps, err := w.Service.SearchPatients(th, q)
		if err != nil || len(ps) != 0 {
			t.Errorf("search %q found %d outside care (%v)", q, len(ps), err)
		}
	}
	if _, err := w.Service.SearchPatients(th, "a"); confidant.CodeOf(err) != "invalid_query" {
		t.Errorf("one-letter search: %v", err)
	}
}

func TestValidation(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	tests := []struct {
		name string
		run  func() error
		code string
	}{
		{"bad identity code", func() error {
			_, err := w.Service.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: "010190-902A"})
			return err
		}, "invalid_identity_code"},
		{"duplicate identity code", func() error {
			_, err := w.Service.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: w.PatientA.IdentityCode})
			return err
		}, "identity_code_taken"},
		{"bad email", func() error {
			_, err := w.Service.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: validCode(t), Email: "no"})
			return err
		}, "invalid_email"},
		{"unknown ICD-10 code", func() error { _, err := w.Service.AddDiagnosis(th, w.PatientA.ID, "Z00", ""); return err }, "unknown_icd10_code"},
		{"unknown template", func() error {
			_, err := w.Service.CreateNote(th, w.PatientA.ID, service.NoteInput{Template: "xml", Body: "x"})
			return err
		}, "invalid_template"},
		{"empty note", func() error {
			_, err := w.Service.CreateNote(th, w.PatientA.ID, service.NoteInput{Body: ""})
			return err
		}, "missing_body"},
		{"PHQ-9 with 7 answers", func() error {
			_, err := w.Service.RecordMeasure(th, w.PatientA.ID, confidant.PHQ9, []int{1, 1, 1, 1, 1, 1, 1}, time.Time{})
			return err
		}, "invalid_answers"},
		{"answer out of range", func() error {
			_, err := w.Service.RecordMeasure(th, w.PatientA.ID, confidant.GAD7, []int{1, 1, 1, 1, 1, 1, 4}, time.Time{})
			return err
		}, "invalid_answers"},
		{"malformed id", func() error { _, err := w.Service.Chart(th, "../../etc/passwd"); return err }, "not_found"},
		{"unknown id", func() error { _, err := w.Service.Note(th, confidant.NewID()); return err }, "not_found"},
	}
	for _, tt := range tests {
		if err := tt.run(); confidant.CodeOf(err) != tt.code {
			t.Errorf("%s: got %v, want code %s", tt.name, err, tt.code)
		}
	}
}

func TestAttachments(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 3*confidant.AttachmentChunkSize)...)
	a, err := w.Service.UploadAttachment(th, w.PatientA.ID, `C:\scans\referral.pdf`, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	if a.Filename != "referral.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf)) || a.Chunks != 4 {
		t.Fatalf("attachment %+v", a)
	}
	_, r, err := w.Service.OpenAttachment(th, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("download differs (%v)", err)
	}
	// Disallowed type and oversize: refused, nothing stored.
	exe := append([]byte("MZ\x90\x00"), make([]byte, 100)...)
	if _, err := w.Service.UploadAttachment(th, w.PatientA.ID, "x.exe", bytes.NewReader(exe)); confidant.KindOf(err) != confidant.KindUnsupported {
		t.Errorf("exe: %v", err)
	}
	big := io.MultiReader(strings.NewReader("%PDF-1.4\n"), io.LimitReader(zeros{}, w.Service.Config().MaxAttachment))
	if _, err := w.Service.UploadAttachment(th, w.PatientA.ID, "big.pdf", big); confidant.KindOf(err) != confidant.KindTooLarge {
		t.Errorf("oversize: %v", err)
	}
	c, err := w.Service.Chart(th, w.PatientA.ID)
	if err != nil || len(c.Attachments) != 1 {
		t.Fatalf("attachments stored: %v %d", err, len(c.Attachments))
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestLoginAndSessions(t *testing.T) {
	w := newWorld(t)
	svc := w.Service
	ctx := context.Background()
	res, err := svc.Login(ctx, "Therapist ", testfix.Password, service.SessionWeb)
	if err != nil {
		t.Fatal(err)
	}
	res, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.Code(t, w.TOTPSecret(w.Therapist)), service.SessionWeb, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Token
	a, err := svc.Authenticate(ctx, tok, service.SessionWeb, "127.0.0.1")
	if err != nil || a.UserID != w.Therapist.ID || a.Role != confidant.RoleTherapist {
		t.Fatalf("authenticate: %v %+v", err, a)
	}
	// A web token is not an API token.
	if _, err := svc.Authenticate(ctx, tok, service.SessionAPI, ""); confidant.KindOf(err) != confidant.KindUnauthenticated {
		t.Fatalf("web token as api: %v", err)
	}
	if _, err := svc.Authenticate(ctx, tok, service.SessionWeb, ""); err != nil {
		t.Fatalf("web session ended by its use as an api token: %v", err)
	}
	// The same answer for an unknown user and a wrong password.
	_, e1 := svc.Login(ctx, "nobody", "whatever-password", service.SessionWeb)
	_, e2 := svc.Login(ctx, "other", "wrong-password!", service.SessionWeb)
	if confidant.CodeOf(e1) != "invalid_credentials" || confidant.MessageOf(e1) != confidant.MessageOf(e2) {
		t.Fatalf("login errors differ: %v / %v", e1, e2)
	}
	// There is no account lockout: after failures from one client, the
	// right password from another still signs in (TestThrottle).
	// Logout ends the session.
	if err := svc.Logout(confidant.WithActor(ctx, a)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, tok, service.SessionWeb, ""); confidant.KindOf(err) != confidant.KindUnauthenticated {
		t.Fatalf("after logout: %v", err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	clock := func() time.Time { return now }
	cfg := service.DefaultConfig()
	svc, err := service.New(w.Store, testfix.FastHasher{}, cfg, service.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The patient's account signs in with a password alone.
	res, err := svc.Login(ctx, w.PatientUser.Username, testfix.Password, service.SessionWeb)
	if err != nil || res.MFARequired() {
		t.Fatal(err, res.MFARequired())
	}
	tok := res.Token
	// Activity keeps it alive until the absolute timeout.
	end := now.Add(cfg.SessionAbsolute)
	for now.Add(cfg.SessionIdle).Before(end) {
		now = now.Add(cfg.SessionIdle - time.Minute)
		if _, err := svc.Authenticate(ctx, tok, service.SessionWeb, ""); err != nil {
			t.Fatalf("active session ended early: %v", err)
		}
	}
	now = end
	if _, err := svc.Authenticate(ctx, tok, service.SessionWeb, ""); confidant.CodeOf(err) != "session_expired" {
		t.Fatalf("after absolute timeout: %v", err)
	}
	// Idle timeout.
	res, err = svc.Login(ctx, w.PatientUser.Username, testfix.Password, service.SessionWeb)
	if err != nil {
		t.Fatal(err)
	}
	tok = res.Token
	now = now.Add(cfg.SessionIdle + time.Second)
	if _, err := svc.Authenticate(ctx, tok, service.SessionWeb, ""); confidant.CodeOf(err) != "session_expired" {
		t.Fatalf("after idle timeout: %v", err)
	}
}

// assign gives therapist u a care relationship with p, as the manager.
func assign(t *testing.T, w *testfix.World, u confidant.User, p confidant.Patient) error {
	t.Helper()
	_, err := w.Service.AssignCare(w.As(w.Manager), p.ID, u.ID, time.Time{})
	return err
}

func validCode(t *testing.T) string {
	t.Helper()
	c, err := confidant.MakeIdentityCode(time.Date(2004, 4, 4, 0, 0, 0, 0, time.UTC), 928)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A chart holds the ChartNotes most recent session notes and says that
// there are more; AllNotes holds every one, newest session first.
func TestChartRecentNotes(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	total := service.ChartNotes + 3
	for i := range total {
		// Created out of session order: the chart orders by session time.
		at := base.AddDate(0, 0, 7*((i*5)%total))
		if _, err := w.Service.CreateNote(th, w.PatientA.ID, service.NoteInput{Body: "Session", SessionAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := w.Service.Chart(th, w.PatientA.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != service.ChartNotes || !c.MoreNotes {
		t.Fatalf("chart: %d notes, more %v; want %d, true", len(c.Notes), c.MoreNotes, service.ChartNotes)
	}
	latest := base.AddDate(0, 0, 7*(total-1))
	if !c.Notes[0].SessionAt.Equal(latest) {
		t.Errorf("first note of the chart is of %v, want the latest session %v", c.Notes[0].SessionAt, latest)
	}
	all, err := w.Service.Chart(th, w.PatientA.ID, service.AllNotes())
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Notes) != total || all.MoreNotes {
		t.Fatalf("all notes: %d, more %v; want %d, false", len(all.Notes), all.MoreNotes, total)
	}
	for i := 1; i < len(all.Notes); i++ {
		if all.Notes[i].SessionAt.After(all.Notes[i-1].SessionAt) {
			t.Fatalf("notes not newest first at %d", i)
		}
	}
	for i, n := range c.Notes {
		if n.ID != all.Notes[i].ID {
			t.Fatalf("chart note %d is not the %dth most recent", i, i)
		}
	}
	// Exactly ChartNotes: nothing more to show.
	w2 := newWorld(t)
	for i := range service.ChartNotes {
		if _, err := w2.Service.CreateNote(w2.As(w2.Therapist), w2.PatientA.ID, service.NoteInput{Body: "S", SessionAt: base.AddDate(0, 0, i)}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := w2.Service.Chart(w2.As(w2.Therapist), w2.PatientA.ID); err != nil || len(c.Notes) != service.ChartNotes || c.MoreNotes {
		t.Fatalf("exactly %d notes: %v %d %v", service.ChartNotes, err, len(c.Notes), c.MoreNotes)
	}
}

// The key-unwrap action internal/audit records is the one the service names.
func TestKeyUnwrapAction(t *testing.T) {
	if service.ActKeyUnwrap != confidant.ActionKeyUnwrap {
		t.Fatalf("service.ActKeyUnwrap %q, confidant.ActionKeyUnwrap %q", service.ActKeyUnwrap, confidant.ActionKeyUnwrap)
	}
}
