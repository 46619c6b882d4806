package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/google/go-cmp/cmp"
)

// TestIssueFlow is the flow from the issue, step by step: a therapist
// signs in, registers a patient, writes a note (whose id comes back),
// reads, signs, amends and releases it, and the patient reads it with
// their own token.
func TestIssueFlow(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, "therapist")

	res := e.call(t, http.StatusCreated, "POST", "/api/v1/patients", tok, map[string]string{
		"given_name": "Flow", "family_name": "Patient", "identity_code": "131052-308T",
	})
	patientID := res.idOf(t)
	if loc := res.Header.Get("Location"); loc != "/api/v1/patients/"+patientID {
		t.Errorf("Location %q", loc)
	}

	res = e.call(t, http.StatusCreated, "POST", "/api/v1/patients/"+patientID+"/notes", tok, map[string]string{
		"body": "First session.", "template": "free", "session_at": "2025-01-31T14:00:00Z",
	})
	var created noteView
	res.decode(t, &created)
	if !confidant.ValidID(created.ID) || created.Status != "draft" || created.Released || len(created.Versions) != 1 {
		t.Fatalf("created note: %s", res.Body)
	}
	if created.SessionAt == nil || *created.SessionAt != "2025-01-31T14:00:00Z" {
		t.Errorf("session_at %v", created.SessionAt)
	}
	noteID := created.ID

	var got noteView
	e.call(t, http.StatusOK, "GET", "/api/v1/notes/"+noteID, tok, nil).decode(t, &got)
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GET differs from POST (-post +get):\n%s", diff)
	}

	var signed noteView
	e.call(t, http.StatusOK, "POST", "/api/v1/notes/"+noteID+"/sign", tok, nil).decode(t, &signed)
	if signed.Status != "signed" || signed.Versions[0].SignedAt == nil || signed.Versions[0].SignedBy != e.Therapist.ID {
		t.Fatalf("signed note: %+v", signed)
	}

	var amended noteView
	e.call(t, http.StatusOK, "POST", "/api/v1/notes/"+noteID+"/amend", tok, map[string]string{
		"body": "First session, corrected.", "reason": "typo",
	}).decode(t, &amended)
	if len(amended.Versions) != 2 || amended.Versions[0].Body != "First session." ||
		amended.Versions[1].Body != "First session, corrected." || amended.Versions[1].Reason != "typo" {
		t.Fatalf("amended note: %+v", amended)
	}

	var released noteView
	e.call(t, http.StatusOK, "POST", "/api/v1/notes/"+noteID+"/release", tok, nil).decode(t, &released)
	if !released.Released || released.ReleasedAt == nil || released.ReleasedBy != e.Therapist.ID {
		t.Fatalf("released note: %+v", released)
	}

	// The manager gives the patient a portal account by invitation; the
	// patient sets their password and signs in.
	mtok := e.login(t, "manager")
	e.call(t, http.StatusCreated, "POST", "/api/v1/patients/"+patientID+"/account", mtok, map[string]string{
		"username": "flow.patient", "email": "flow.patient@example.org",
	})
	e.call(t, http.StatusOK, "POST", "/api/v1/invitations/accept", "", map[string]string{
		"token": e.Mail.InvitationCode(t, "flow.patient@example.org"), "password": testfix.Password,
	})
	ptok := e.login(t, "flow.patient")
	var read noteView
	e.call(t, http.StatusOK, "GET", "/api/v1/notes/"+noteID, ptok, nil).decode(t, &read)
	if diff := cmp.Diff(released, read); diff != "" {
		t.Errorf("patient's view differs (-therapist +patient):\n%s", diff)
	}
	var rec recordView
	e.call(t, http.StatusOK, "GET", "/api/v1/me/record", ptok, nil).decode(t, &rec)
	if rec.Patient.ID != patientID || len(rec.Notes) != 1 || rec.Notes[0].ID != noteID {
		t.Errorf("portal record: %+v", rec)
	}
}

// TestEndpoints exercises the happy path of every endpoint and checks the
// shape of what comes back.
func TestEndpoints(t *testing.T) {
	e := newEnv(t)
	ther, mgr, sec, pat := e.login(t, "therapist"), e.login(t, "manager"), e.login(t, "security"), e.login(t, "aino")
	pA := "/api/v1/patients/" + e.PatientA.ID

	t.Run("me", func(t *testing.T) {
		var u userView
		e.call(t, 200, "GET", "/api/v1/me", ther, nil).decode(t, &u)
		want := userView{ID: e.Therapist.ID, Username: "therapist", DisplayName: "therapist", Role: "therapist",
			ClinicIDs: []string{e.ClinicA.ID}, CreatedAt: u.CreatedAt}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Errorf("me (-want +got):\n%s", diff)
		}
	})

	t.Run("patients", func(t *testing.T) {
		var ps patientsView
		e.call(t, 200, "GET", "/api/v1/patients", ther, nil).decode(t, &ps)
		if len(ps.Patients) != 1 || ps.Patients[0].ID != e.PatientA.ID {
			t.Errorf("my patients: %+v", ps)
		}
		e.call(t, 200, "POST", "/api/v1/patients/search", ther, patientSearchRequest{Q: strPtr("Äijälä 1990")}).decode(t, &ps)
		if len(ps.Patients) != 1 || ps.Patients[0].FamilyName != "Äijälä" {
			t.Errorf("search by name: %+v", ps)
		}
		e.call(t, 200, "POST", "/api/v1/patients/search", ther, patientSearchRequest{Q: strPtr("010190-902S")}).decode(t, &ps)
		if len(ps.Patients) != 1 || ps.Patients[0].BirthDate == nil || *ps.Patients[0].BirthDate != "1990-01-01" {
			t.Errorf("search by identity code: %+v", ps)
		}
		e.call(t, 200, "GET", "/api/v1/patients?clinic="+e.ClinicA.ID, mgr, nil).decode(t, &ps)
		if len(ps.Patients) != 2 || ps.NextOffset != nil {
			t.Errorf("clinic patients: %+v", ps)
		}
		e.call(t, 200, "GET", "/api/v1/patients?clinic="+e.ClinicA.ID+"&limit=1", mgr, nil).decode(t, &ps)
		if len(ps.Patients) != 1 || ps.NextOffset == nil || *ps.NextOffset != 1 {
			t.Errorf("clinic patients, page 1: %+v", ps)
		}
		first := ps.Patients[0].ID
		e.call(t, 200, "GET", "/api/v1/patients?clinic="+e.ClinicA.ID+"&limit=1&offset=1", mgr, nil).decode(t, &ps)
		if len(ps.Patients) != 1 || ps.Patients[0].ID == first {
			t.Errorf("clinic patients, page 2: %+v", ps)
		}
		var p patientView
		e.call(t, 200, "GET", pA, ther, nil).decode(t, &p)
		if p.ID != e.PatientA.ID || p.IdentityCode != "010190-902S" || p.ClinicID != e.ClinicA.ID || p.Email != "x@example.invalid" {
			t.Errorf("patient: %+v", p)
		}
		res := e.call(t, 201, "POST", "/api/v1/patients", mgr, patientRequest{
			ClinicID: e.ClinicA.ID, GivenName: "Uusi", FamilyName: "Potilas", IdentityCode: "131052-308T",
			Phone: "+358 40 123 4567", Address: "Katu 1",
		})
		res.decode(t, &p)
		if p.Phone != "+358 40 123 4567" || p.Address != "Katu 1" || p.BirthDate == nil || *p.BirthDate != "1952-10-13" {
			t.Errorf("created patient: %+v", p)
		}
	})

	var noteID string
	t.Run("notes", func(t *testing.T) {
		var n noteView
		e.call(t, 201, "POST", pA+"/notes", ther, noteRequest{Body: "Subjective: fine", Template: "soap"}).decode(t, &n)
		noteID = n.ID
		if n.Versions[0].Template != "soap" || n.AuthorID != e.Therapist.ID || n.PatientID != e.PatientA.ID {
			t.Errorf("note: %+v", n)
		}
		e.call(t, 200, "PUT", "/api/v1/notes/"+noteID+"/draft", ther, draftRequest{Version: 1, Template: "dap", Body: "Data: better"}).decode(t, &n)
		if v := n.Versions[0]; v.Template != "dap" || v.Body != "Data: better" || v.Status != "draft" {
			t.Errorf("edited draft: %+v", v)
		}
		e.call(t, 200, "POST", "/api/v1/notes/"+noteID+"/sign", ther, nil)
		e.call(t, 200, "POST", "/api/v1/notes/"+noteID+"/amend", ther, amendRequest{Body: "Data: much better"}).decode(t, &n)
		if n.Status != "signed" || len(n.Versions) != 2 || n.Versions[1].Reason != "" {
			t.Errorf("amended: %+v", n)
		}
		var ns notesView
		e.call(t, 200, "GET", pA+"/notes", ther, nil).decode(t, &ns)
		if len(ns.Notes) != 1 || ns.Notes[0].ID != noteID {
			t.Errorf("notes: %+v", ns)
		}
		// Not yet released: the patient sees none.
		e.call(t, 200, "GET", pA+"/notes", pat, nil).decode(t, &ns)
		if len(ns.Notes) != 0 {
			t.Errorf("patient sees unreleased notes: %s", ns.Notes[0].ID)
		}
		e.call(t, 200, "POST", "/api/v1/notes/"+noteID+"/release", ther, nil)
		e.call(t, 200, "GET", pA+"/notes", pat, nil).decode(t, &ns)
		if len(ns.Notes) != 1 || len(ns.Notes[0].Versions) != 2 {
			t.Errorf("patient notes after release: %+v", ns)
		}
	})

	var attID string
	content := []byte("plain text attachment\n")
	t.Run("records", func(t *testing.T) {
		var pn processNoteView
		e.call(t, 201, "POST", pA+"/process-notes", ther, processNoteRequest{Body: "my private thoughts"}).decode(t, &pn)
		var pns processNotesView
		e.call(t, 200, "GET", pA+"/process-notes", ther, nil).decode(t, &pns)
		if diff := cmp.Diff(processNotesView{ProcessNotes: []processNoteView{pn}}, pns); diff != "" {
			t.Errorf("process notes (-want +got):\n%s", diff)
		}

		var d diagnosisView
		e.call(t, 201, "POST", pA+"/diagnoses", ther, diagnosisRequest{Code: "f32.1", Note: "since spring"}).decode(t, &d)
		if d.Code != "F32.1" || d.Title == "" || d.Status != "active" || d.Note != "since spring" {
			t.Errorf("diagnosis: %+v", d)
		}
		e.call(t, 200, "POST", "/api/v1/diagnoses/"+d.ID+"/status", ther, diagnosisStatusRequest{Status: "resolved"}).decode(t, &d)
		if d.Status != "resolved" {
			t.Errorf("diagnosis status: %+v", d)
		}

		var pl planView
		e.call(t, 201, "POST", pA+"/plans", ther, planRequest{Goals: "Sleep better", Interventions: "CBT-I", ReviewOn: "2030-06-30"}).decode(t, &pl)
		if pl.Goals != "Sleep better" || pl.ReviewOn == nil || *pl.ReviewOn != "2030-06-30" {
			t.Errorf("plan: %+v", pl)
		}

		var m measureView
		e.call(t, 201, "POST", pA+"/measures", ther, measureRequest{Instrument: "phq9", Answers: ints(1, 1, 1, 1, 1, 1, 1, 1, 2), TakenAt: "2025-02-01T09:00:00Z"}).decode(t, &m)
		if m.Score != 10 || m.MaxScore != 27 || m.Severity != "moderate" || *m.TakenAt != "2025-02-01T09:00:00Z" {
			t.Errorf("measure: %+v", m)
		}

		var a attachmentView
		res := e.do(t, req{Method: "POST", Path: pA + "/attachments", Token: ther, Body: content,
			Header: map[string]string{"Content-Disposition": `attachment; filename="summary.txt"`}})
		if res.Code != 201 {
			t.Fatalf("upload: %d %s", res.Code, res.Body)
		}
		res.decode(t, &a)
		sum := sha256.Sum256(content)
		if a.Filename != "summary.txt" || a.ContentType != "text/plain; charset=utf-8" || a.Size != int64(len(content)) || a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("attachment: %+v", a)
		}
		attID = a.ID

		// The file name comes from the Content-Disposition header, with any
		// declared type.
		res = e.do(t, req{Method: "POST", Path: pA + "/attachments", Token: ther, Body: content,
			Header: map[string]string{"Content-Disposition": `attachment; filename="second.txt"`, "Content-Type": "application/octet-stream"}})
		if res.Code != 201 {
			t.Fatalf("upload with Content-Disposition: %d %s", res.Code, res.Body)
		}
		res.decode(t, &a)
		if a.Filename != "second.txt" {
			t.Errorf("filename from header: %q", a.Filename)
		}

		// curl --data-binary declares a form; the declared type is ignored.
		res = e.do(t, req{Method: "POST", Path: pA + "/attachments", Token: ther, Body: content,
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Content-Disposition": `attachment; filename="third.txt"`}})
		if res.Code != 201 {
			t.Fatalf("upload as curl sends it: %d %s", res.Code, res.Body)
		}

		res = e.call(t, 200, "GET", "/api/v1/attachments/"+attID, ther, nil)
		if !bytes.Equal(res.Body, content) {
			t.Errorf("download: %q", res.Body)
		}
		for k, want := range map[string]string{
			"Content-Type":           "text/plain; charset=utf-8",
			"Content-Disposition":    `attachment; filename=summary.txt`,
			"Content-Length":         "22",
			"X-Content-Type-Options": "nosniff",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("download %s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("chart", func(t *testing.T) {
		var c chartView
		e.call(t, 200, "GET", pA+"/chart", ther, nil).decode(t, &c)
		if c.Patient.ID != e.PatientA.ID || len(c.Care) != 1 || !c.Care[0].Active || len(c.Notes) != 1 ||
			len(c.ProcessNotes) != 1 || len(c.Diagnoses) != 1 || len(c.Plans) != 1 || len(c.Measures) != 1 || len(c.Attachments) != 3 {
			t.Errorf("chart: %+v", c)
		}
		if c.MoreNotes {
			t.Error("chart of one note says there are more")
		}
		var all chartView
		e.call(t, 200, "GET", pA+"/chart?notes=all", ther, nil).decode(t, &all)
		if len(all.Notes) != 1 || all.MoreNotes {
			t.Errorf("chart?notes=all: %d notes, more %v", len(all.Notes), all.MoreNotes)
		}
		e.call(t, 400, "GET", pA+"/chart?notes=some", ther, nil)
	})

	t.Run("portal", func(t *testing.T) {
		var r recordView
		e.call(t, 200, "GET", "/api/v1/me/record", pat, nil).decode(t, &r)
		if r.Patient.ID != e.PatientA.ID || len(r.Notes) != 1 || r.Notes[0].ID != noteID {
			t.Errorf("record: %+v", r)
		}
		var p patientView
		e.call(t, 200, "GET", pA, pat, nil).decode(t, &p)
		if p.ID != e.PatientA.ID {
			t.Errorf("own demographics: %+v", p)
		}
	})

	t.Run("clinics", func(t *testing.T) {
		var cs clinicsView
		e.call(t, 200, "GET", "/api/v1/clinics", mgr, nil).decode(t, &cs)
		if len(cs.Clinics) != 2 {
			t.Errorf("clinics: %+v", cs)
		}
		var c clinicView
		res := e.call(t, 201, "POST", "/api/v1/clinics", mgr, clinicRequest{Name: "Klinikka Oulu", City: "Oulu"})
		res.decode(t, &c)
		if c.Name != "Klinikka Oulu" || res.Header.Get("Location") != "/api/v1/clinics/"+c.ID {
			t.Errorf("created clinic: %+v", c)
		}
		e.call(t, 200, "PUT", "/api/v1/clinics/"+e.ClinicA.ID, mgr, clinicRequest{Name: "Klinikka Kallio", City: "Helsinki"}).decode(t, &c)
		if c.ID != e.ClinicA.ID || c.Name != "Klinikka Kallio" {
			t.Errorf("updated clinic: %+v", c)
		}
	})

	t.Run("staff", func(t *testing.T) {
		var s staffView
		e.call(t, 200, "GET", "/api/v1/staff?clinic="+e.ClinicA.ID, mgr, nil).decode(t, &s)
		if len(s.Staff) != 3 { // therapist, other, manager
			t.Errorf("staff of clinic A: %+v", s)
		}
		e.call(t, 200, "GET", "/api/v1/staff", sec, nil).decode(t, &s)
		if len(s.Staff) != 7 { // and therapist B, manager B, security, the DPO
			t.Errorf("all staff: %d", len(s.Staff))
		}
		var u userView
		e.call(t, 201, "POST", "/api/v1/staff", mgr, staffRequest{
			Username: "new.therapist", DisplayName: "New Therapist", Role: "therapist",
			ClinicIDs: []string{e.ClinicA.ID}, Email: "new.therapist@example.org",
		}).decode(t, &u)
		if u.Role != "therapist" || u.Username != "new.therapist" || !u.AwaitingApproval {
			t.Errorf("created staff: %+v", u)
		}
		code := e.Mail.InvitationCode(t, "new.therapist@example.org")
		if e.accept(t, code, "new.therapist") == "" {
			t.Fatal("a staff invitation's acceptance started no enrolment")
		}
		no := false
		e.call(t, 200, "PUT", "/api/v1/staff/"+u.ID, mgr, staffUpdateRequest{DisplayName: "Renamed", ClinicIDs: []string{e.ClinicA.ID}, Disabled: &no}).decode(t, &u)
		if u.DisplayName != "Renamed" || u.Disabled {
			t.Errorf("updated staff: %+v", u)
		}
	})

	t.Run("care", func(t *testing.T) {
		var c careView
		e.call(t, 201, "POST", "/api/v1/care", mgr, careRequest{PatientID: e.PatientC.ID, TherapistID: e.OtherTherapist.ID}).decode(t, &c)
		if !c.Active || c.To != nil || c.TherapistID != e.OtherTherapist.ID || c.CreatedBy != e.Manager.ID {
			t.Errorf("assigned care: %+v", c)
		}
		var cs careListView
		e.call(t, 200, "GET", "/api/v1/care?clinic="+e.ClinicA.ID+"&active=true", mgr, nil).decode(t, &cs)
		if len(cs.Care) != 2 {
			t.Errorf("active care: %+v", cs)
		}
		e.call(t, 200, "POST", "/api/v1/care/"+c.ID+"/end", mgr, nil).decode(t, &c)
		if c.Active || c.To == nil || c.EndedBy != e.Manager.ID {
			t.Errorf("ended care: %+v", c)
		}
		e.call(t, 200, "GET", "/api/v1/care?clinic="+e.ClinicA.ID+"&active=false", mgr, nil).decode(t, &cs)
		if len(cs.Care) != 2 { // therapist with A, and the ended one
			t.Errorf("all care in clinic A: %+v", cs)
		}
	})

	t.Run("patient account", func(t *testing.T) {
		var u invitedView
		e.call(t, 201, "POST", "/api/v1/patients/"+e.PatientC.ID+"/account", mgr, accountRequest{Username: "cecilia", Email: "cecilia@example.org"}).decode(t, &u)
		if u.Role != "patient" || u.PatientID != e.PatientC.ID {
			t.Errorf("patient account: %+v", u)
		}
	})

	t.Run("accounts", func(t *testing.T) {
		otok := e.login(t, "other")
		var u userView
		e.call(t, 200, "POST", "/api/v1/accounts/"+e.OtherTherapist.ID+"/disable", sec, nil).decode(t, &u)
		if !u.Disabled {
			t.Errorf("disabled: %+v", u)
		}
		// Disabling ends the account's sessions at once.
		e.call(t, 401, "GET", "/api/v1/me", otok, nil)
		e.call(t, 401, "POST", "/api/v1/login", "", loginRequest{Username: "other", Password: testfix.Password})
		e.call(t, 200, "POST", "/api/v1/accounts/"+e.OtherTherapist.ID+"/enable", sec, nil).decode(t, &u)
		if u.Disabled {
			t.Errorf("enabled: %+v", u)
		}
		e.login(t, "other")
	})

	t.Run("logout", func(t *testing.T) {
		res := e.call(t, 204, "POST", "/api/v1/logout", ther, nil)
		if len(res.Body) != 0 {
			t.Errorf("logout body %q", res.Body)
		}
		e.call(t, 401, "GET", "/api/v1/me", ther, nil)
	})

	// Nothing secret ever appears in a response or the log.
	if strings.Contains(e.log.String(), "Äijälä") || strings.Contains(e.log.String(), "010190-902S") {
		t.Errorf("patient data in the log:\n%s", e.log)
	}
}

// TestResponsesCarryNoSecrets checks that account responses never carry
// password or token hashes.
func TestResponsesCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	mgr, sec := e.login(t, "manager"), e.login(t, "security")
	hash, _ := testfix.FastHasher{}.Hash(t.Context(), testfix.Password)
	for _, r := range []response{
		e.call(t, 200, "GET", "/api/v1/me", mgr, nil),
		e.call(t, 200, "GET", "/api/v1/staff", sec, nil),
		e.call(t, 201, "POST", "/api/v1/staff", mgr, staffRequest{Username: "x.y", DisplayName: "X", Role: "therapist", ClinicIDs: []string{e.ClinicA.ID}, Email: "x.y@example.org"}),
		e.call(t, 201, "POST", "/api/v1/patients/"+e.PatientC.ID+"/account", mgr, accountRequest{Username: "c.c", Handover: true}),
		e.call(t, 200, "POST", "/api/v1/accounts/"+e.Therapist.ID+"/disable", sec, nil),
	} {
		for _, bad := range []string{hash, "password", "token", testfix.Password, "failed_logins", "locked_until"} {
			if bytes.Contains(r.Body, []byte(bad)) {
				t.Errorf("response contains %q: %s", bad, r.Body)
			}
		}
	}
}

// TestTimesAreUTC checks the time format of responses.
func TestTimesAreUTC(t *testing.T) {
	e := newEnv(t)
	var u userView
	e.call(t, 200, "GET", "/api/v1/me", e.login(t, "therapist"), nil).decode(t, &u)
	ts, err := time.Parse(time.RFC3339Nano, *u.CreatedAt)
	if err != nil || !strings.HasSuffix(*u.CreatedAt, "Z") || !ts.Equal(e.Therapist.CreatedAt) {
		t.Errorf("created_at %q (err %v), want %v in UTC", *u.CreatedAt, err, e.Therapist.CreatedAt)
	}
}

func strPtr(s string) *string { return &s }
