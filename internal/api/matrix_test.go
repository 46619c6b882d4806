package api

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// Markers placed in clinical content. clinMarker is in every clinical
// record of PatientA; privMarker additionally in what even the patient must
// never see (a process note and an unreleased draft).
const (
	clinMarker = "CLIN-7f3a9c"
	privMarker = "PRIV-51be02"
)

// who is a column of the matrix.
type who int

const (
	therapist who = iota // Therapist: clinic A, in care of PatientA
	notInCare            // OtherTherapist: clinic A, no care relationships
	manager              // Manager of clinic A
	managerB             // ManagerB: clinic B only
	security             // security officer
	patient              // PatientUser: the portal account of PatientA
	anonymous            // no token
	dpo                  // the data protection officer (a row's 8th value, or dpoWant)
	nWho
)

var whoNames = [nWho]string{"therapist", "not-in-care", "manager", "manager-B", "security", "patient", "anonymous", "dpo"}

// want is a row's expected status per column.
type want [nWho]int

// dpoWant is the data protection officer's expected status for a row that
// gives none (7 values): the security officer's where the DPO may act as
// one (alerts, incidents, recipients, the outbox, the board digest,
// access-log events and the records report, the break-the-glass list, clinics and staff lists,
// their own account), 400 where everyone gets it, else 403 (accounts,
// throttling, approvals, honeytokens' creation, the records report, every
// patient and clinical route).
func dpoWant(method, path string, w want) int {
	if w[patient] == 400 && w[anonymous] == 400 {
		return 400 // before any authentication (invitations)
	}
	if w[therapist] == w[security] && w[security] == w[patient] {
		return w[security] // the same for every role (a request refused for its form)
	}
	for _, p := range []string{"/api/v1/alerts", "/api/v1/incidents", "/api/v1/recipients", "/api/v1/outbox",
		"/api/v1/board-digest", "/api/v1/audit/", "/api/v1/me", "/api/v1/logout"} {
		if strings.HasPrefix(path, p) {
			return w[security]
		}
	}
	if method == "GET" && (path == "/api/v1/clinics" || path == "/api/v1/honeytokens" ||
		strings.HasPrefix(path, "/api/v1/break-glass?") || strings.HasPrefix(path, "/api/v1/staff")) {
		return w[security]
	}
	return 403
}

// can reports whether a role may ever receive content carrying the marker.
func (w who) canSee(marker string) bool {
	switch w {
	case therapist:
		return true
	case patient:
		return marker == clinMarker // released notes only
	}
	return false
}

// matrixWorld is one role's world: the fixture plus clinical records of
// PatientA written by Therapist, and ids to put into paths.
type matrixWorld struct {
	*env
	ids map[string]string
}

func newMatrixWorld(t *testing.T) *matrixWorld {
	t.Helper()
	e := newEnv(t)
	ctx := e.As(e.Therapist)
	svc := e.Service
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	note := func(body string, sign, release bool) string {
		t.Helper()
		n, err := svc.CreateNote(ctx, e.PatientA.ID, service.NoteInput{Body: body})
		must(err)
		if sign {
			_, err = svc.SignNote(ctx, n.ID)
			must(err)
		}
		if release {
			_, err = svc.ReleaseNote(ctx, n.ID)
			must(err)
		}
		return n.ID
	}
	m := &matrixWorld{env: e, ids: map[string]string{
		"{patientA}": e.PatientA.ID, "{patientB}": e.PatientB.ID, "{patientC}": e.PatientC.ID,
		"{clinicA}": e.ClinicA.ID, "{other}": e.OtherTherapist.ID,
		"{released}":      note("Released note "+clinMarker, true, true),
		"{draftRead}":     note("Draft "+clinMarker+" "+privMarker, false, false),
		"{draftEdit}":     note("Draft to edit "+clinMarker+" "+privMarker, false, false),
		"{draftSign}":     note("Draft to sign "+clinMarker+" "+privMarker, false, false),
		"{signed}":        note("Signed note "+clinMarker+" "+privMarker, true, false),
		"{signedRelease}": note("Signed, to release "+clinMarker+" "+privMarker, true, false),
	}}
	_, err := svc.CreateProcessNote(ctx, e.PatientA.ID, "Process "+clinMarker+" "+privMarker)
	must(err)
	d, err := svc.AddDiagnosis(ctx, e.PatientA.ID, "F41.1", "Comment "+clinMarker+" "+privMarker)
	must(err)
	m.ids["{diagnosis}"] = d.ID
	_, err = svc.SavePlan(ctx, e.PatientA.ID, service.PlanInput{Goals: "Goals " + clinMarker + " " + privMarker})
	must(err)
	_, err = svc.RecordMeasure(ctx, e.PatientA.ID, confidant.GAD7, []int{3, 3, 3, 3, 3, 3, 3}, time.Time{})
	must(err)
	att, err := svc.UploadAttachment(ctx, e.PatientA.ID, "letter.txt", strings.NewReader("Letter "+clinMarker+" "+privMarker))
	must(err)
	m.ids["{attachment}"] = att.ID
	care, err := svc.CareList(e.As(e.Manager), e.ClinicA.ID, true)
	must(err)
	for _, c := range care {
		if c.PatientID == e.PatientA.ID && c.TherapistID == e.Therapist.ID {
			m.ids["{careA}"] = c.ID
		}
	}
	if m.ids["{careA}"] == "" {
		t.Fatal("no care relationship between Therapist and PatientA")
	}
	// A therapist account awaiting approval, invited by the manager of
	// clinic B (so that only a security officer may approve it).
	pending, err := svc.CreateStaff(e.As(e.ManagerB), service.StaffInput{
		Username: "pending", DisplayName: "Pending", Role: confidant.RoleTherapist,
		ClinicIDs: []string{e.ClinicB.ID}, Email: "pending@example.org",
	})
	must(err)
	m.ids["{pending}"] = pending.User.ID
	// An incident over the other therapist's accesses, opened by the
	// security officer.
	inc, err := svc.OpenIncident(e.As(e.Security), service.IncidentInput{Title: "Matrix incident",
		Scope: service.ScopeInput{AccountIDs: []string{e.OtherTherapist.ID}, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}})
	must(err)
	m.ids["{incident}"] = inc.ID
	// An open break-the-glass grant (of the other therapist, for patient
	// C, already expired) for security officers to review.
	grant := confidant.NewID()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(e.Store.Update(t.Context(), func(tx confidant.Tx) error {
		return tx.CreateBreakGlass(t.Context(), confidant.BreakGlass{
			ID: grant, TherapistID: e.OtherTherapist.ID, PatientID: e.PatientC.ID, ClinicID: e.ClinicA.ID, Category: "other",
			Reason: "an earlier emergency", CreatedAt: now.Add(-5 * time.Hour), ExpiresAt: now.Add(-time.Hour), Status: confidant.BreakGlassOpen,
		})
	}))
	m.ids["{grant}"] = grant
	// Alerts: new ones to read, acknowledge and dismiss, and one
	// dismissed by someone else to reopen.
	for _, name := range []string{"{alert}", "{alertDismiss}", "{alertReopen}"} {
		a := confidant.Alert{ID: confidant.NewID(), Rule: "no_care", Severity: confidant.AlertHigh, ActorID: e.OtherTherapist.ID,
			PatientIDs: []string{e.PatientC.ID}, Explanation: "Read a chart without care.", Key: name, CreatedAt: now, Status: confidant.AlertNew}
		if name == "{alertReopen}" {
			a.Status, a.DecidedBy, a.DecidedAt, a.Reason = confidant.AlertDismissed, confidant.NewID(), now, "a planned audit of records"
		}
		must(e.Store.Update(t.Context(), func(tx confidant.Tx) error {
			_, err := tx.CreateAlert(t.Context(), a)
			return err
		}))
		m.ids[name] = a.ID
	}
	// Recipients of alerts: an active one, and one proposed by someone
	// other than the security officer (made in the store).
	for _, st := range []confidant.RecipientStatus{confidant.RecipientActive, confidant.RecipientPending} {
		id := confidant.NewID()
		rec := confidant.Recipient{ID: id, Kind: confidant.RecipientEmail, Label: confidant.LabelBoard, Address: "board@example.org",
			Status: st, ProposedBy: e.Manager.ID, ProposedAt: now}
		must(e.Store.Update(t.Context(), func(tx confidant.Tx) error { return tx.CreateRecipient(t.Context(), rec) }))
		m.ids["{recipient-"+string(st)+"}"] = id
	}
	// The therapist's passkey (the therapist has an app too, so it may go).
	cer, err := svc.BeginPasskeyRegistration(ctx)
	must(err)
	added, err := svc.FinishPasskeyRegistration(ctx, cer.ID, "Phone", testfix.NewAuthenticator("http://localhost:8080").Create(t, cer.Options))
	must(err)
	m.ids["{passkey}"] = added.Passkey.ID
	return m
}

func (m *matrixWorld) expand(s string) string {
	for k, v := range m.ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// TestRoleMatrix sends every endpoint as every role and checks the status
// against an explicit table, and that no response to a role carries
// clinical content that role may not see. Each role gets its own world, so
// that one role's writes do not change another's answers; within a role,
// rows run in order (logout last).
func TestRoleMatrix(t *testing.T) {
	// want is the expected status per role, in the order of the columns:
	//             therapist, not-in-care, manager, manager-B, security, patient, anonymous
	newCode, _ := confidant.MakeIdentityCode(time.Date(1985, 5, 17, 0, 0, 0, 0, time.UTC), 907)
	rows := []struct {
		method, path string
		body         string // JSON, with {placeholders}; "raw:" prefix sends raw bytes
		want         want
	}{
		{"GET", "/api/v1/me", "", want{200, 200, 200, 200, 200, 200, 401}},
		{"GET", "/api/v1/me/webauthn", "", want{200, 200, 200, 200, 200, 200, 401}},
		{"GET", "/api/v1/me/recovery-codes", "", want{200, 200, 200, 200, 200, 200, 401}},
		{"DELETE", "/api/v1/me/webauthn/{passkey}", "", want{204, 404, 404, 404, 404, 404, 401}},
		{"GET", "/api/v1/me/record", "", want{403, 403, 403, 403, 403, 200, 401}},

		// Patients.
		{"GET", "/api/v1/patients", "", want{200, 200, 400, 400, 403, 403, 401}},
		{"GET", "/api/v1/patients?clinic={clinicA}", "", want{200, 200, 200, 404, 403, 403, 401}},
		{"POST", "/api/v1/patients/search", `{"q":"Aino"}`, want{200, 200, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/search", `{"clinic":"{clinicA}","name":"Aino"}`, want{400, 400, 200, 404, 400, 400, 401}},
		{"GET", "/api/v1/patients?q=Aino", "", want{400, 400, 400, 400, 400, 400, 401}},
		{"GET", "/api/v1/patients?clinic={clinicA}&name=Aino", "", want{400, 400, 400, 400, 400, 400, 401}},
		{"POST", "/api/v1/patients", `{"clinic_id":"{clinicA}","given_name":"Matti","family_name":"Matriisi","identity_code":"` + newCode + `"}`,
			want{201, 201, 201, 404, 403, 403, 401}},
		{"GET", "/api/v1/patients/{patientA}", "", want{200, 404, 200, 404, 403, 200, 401}},
		{"GET", "/api/v1/patients/{patientB}", "", want{404, 404, 404, 200, 403, 404, 401}},
		{"GET", "/api/v1/patients/{patientC}", "", want{404, 404, 200, 404, 403, 404, 401}},
		{"GET", "/api/v1/patients/{patientA}/chart", "", want{200, 404, 403, 403, 403, 403, 401}},

		// Session notes.
		{"GET", "/api/v1/patients/{patientA}/notes", "", want{200, 404, 403, 403, 403, 200, 401}},
		{"POST", "/api/v1/patients/{patientA}/notes", `{"body":"New note","template":"free"}`, want{201, 404, 403, 403, 403, 403, 401}},
		{"GET", "/api/v1/notes/{released}", "", want{200, 404, 403, 403, 403, 200, 401}},
		{"GET", "/api/v1/notes/{draftRead}", "", want{200, 404, 403, 403, 403, 404, 401}},
		{"PUT", "/api/v1/notes/{draftEdit}/draft", `{"version":1,"template":"free","body":"Edited"}`, want{200, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/notes/{draftSign}/sign", "", want{200, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/notes/{signed}/amend", `{"body":"Amended","reason":"clarity"}`, want{200, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/notes/{signedRelease}/release", "", want{200, 404, 403, 403, 403, 403, 401}},

		// Other records.
		{"GET", "/api/v1/patients/{patientA}/process-notes", "", want{200, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/process-notes", `{"body":"Private"}`, want{201, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/diagnoses", `{"code":"F32.1","note":""}`, want{201, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/diagnoses/{diagnosis}/status", `{"status":"resolved"}`, want{200, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/plans", `{"goals":"Goals","interventions":""}`, want{201, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/measures", `{"instrument":"phq9","answers":[0,0,0,0,0,0,0,0,0]}`, want{201, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/attachments", "raw:Scanned text", want{201, 404, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientA}/attachments?filename=scan.txt", "raw:Scanned text", want{400, 400, 400, 400, 400, 400, 401}},
		{"GET", "/api/v1/attachments/{attachment}", "", want{200, 404, 403, 403, 403, 403, 401}},

		// Administration.
		{"GET", "/api/v1/clinics", "", want{200, 200, 200, 200, 200, 403, 401}},
		{"POST", "/api/v1/clinics", `{"name":"Klinikka Turku","city":"Turku"}`, want{403, 403, 201, 201, 403, 403, 401}},
		{"PUT", "/api/v1/clinics/{clinicA}", `{"name":"Klinikka Kallio","city":"Helsinki"}`, want{403, 403, 200, 404, 403, 403, 401}},
		{"GET", "/api/v1/staff?clinic={clinicA}", "", want{403, 403, 200, 200, 200, 403, 401}},
		{"POST", "/api/v1/staff", `{"username":"new.staff","display_name":"New","role":"therapist","clinic_ids":["{clinicA}"],"email":"new.staff@example.org"}`,
			want{403, 403, 201, 404, 403, 403, 401}},
		{"PUT", "/api/v1/staff/{other}", `{"display_name":"Other T","clinic_ids":["{clinicA}"],"disabled":false}`, want{403, 403, 200, 404, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientC}/account", `{"username":"cecilia","handover":true}`, want{403, 403, 201, 404, 403, 403, 401}},
		{"GET", "/api/v1/care?clinic={clinicA}&active=true", "", want{403, 403, 200, 404, 403, 403, 401}},
		{"POST", "/api/v1/care", `{"patient_id":"{patientC}","therapist_id":"{other}"}`, want{403, 403, 201, 404, 403, 403, 401}},
		{"POST", "/api/v1/care/{careA}/end", "", want{403, 403, 200, 404, 403, 403, 401}},
		{"POST", "/api/v1/accounts/{other}/disable", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/accounts/{other}/enable", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/security/throttled", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/security/throttled/{other}/clear", "", want{403, 403, 403, 403, 204, 403, 401}},
		{"GET", "/api/v1/accounts/awaiting-approval", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/accounts/{pending}/approve", `{"code":"{code}"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/accounts/{pending}/reset", "", want{403, 403, 403, 403, 200, 403, 401}},
		// Break-the-glass: the therapists of clinic A, neither in care of
		// patient C, take emergency access ({code}: their current
		// second-factor code) and then read the chart; security officers
		// list and review grants.
		{"POST", "/api/v1/patients/{patientC}/break-glass", `{"category":"risk_to_life","reason":"crisis call at night","code":"{code}"}`,
			want{200, 200, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/patients/{patientB}/break-glass", `{"category":"risk_to_life","reason":"crisis call at night","code":"123456"}`,
			want{404, 404, 403, 403, 403, 403, 401}},
		{"GET", "/api/v1/patients/{patientC}/chart", "", want{200, 200, 403, 403, 403, 403, 401}},
		{"GET", "/api/v1/break-glass?status=all", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/break-glass?status=closed", "", want{403, 403, 403, 403, 400, 403, 401}},
		{"POST", "/api/v1/break-glass/{grant}/review", `{"outcome":"justified","comment":""}`, want{403, 403, 403, 403, 200, 403, 401}},
		// Access-log queries and the records report: security officers.
		{"GET", "/api/v1/audit/events?limit=5", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/audit/records-report", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/alerts", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/alerts?since=2026-01-01T00:00:00Z&status=new&limit=10", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/alerts?since=yesterday", "", want{403, 403, 403, 403, 400, 403, 401}},
		{"GET", "/api/v1/alerts/{alert}", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/alerts/{alert}/acknowledge", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/alerts/{alertDismiss}/dismiss", `{"reason":"a false positive: a planned audit"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/alerts/{alertReopen}/reopen", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/honeytokens", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/honeytokens", `{"clinic_id":"{clinicA}"}`, want{403, 403, 403, 403, 201, 403, 401, 403}},
		{"POST", "/api/v1/invitations/accept", `{"token":"AAAA","password":"a long enough password"}`, want{400, 400, 400, 400, 400, 400, 400}},
		// Recipients of alerts, the outbox and the board digest: security
		// officers (and the DPO); a change approved by another person.
		{"GET", "/api/v1/recipients", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/recipients", `{"kind":"email","label":"board","address":"board2@example.org"}`, want{403, 403, 403, 403, 201, 403, 401}},
		{"POST", "/api/v1/recipients", `{"kind":"webhook","label":"other","url":"https://siem.example.org/h","secret":"0123456789abcdef"}`,
			want{403, 403, 403, 403, 201, 403, 401}},
		{"POST", "/api/v1/recipients", `{"kind":"sms","label":"board","address":"+358401234567"}`, want{403, 403, 403, 403, 400, 403, 401}},
		{"GET", "/api/v1/recipients/changes", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/recipients/{recipient-active}/remove", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/recipients/changes/{recipient-pending}/approve", `{"code":"{code}"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/outbox?status=pending", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/outbox?status=lost", "", want{403, 403, 403, 403, 400, 403, 401}},
		{"GET", "/api/v1/board-digest", "", want{403, 403, 403, 403, 200, 403, 401}},

		// The incident register: security officers (and the DPO:
		// TestIncidentAPI); awareness and closing are the DPO's only.
		{"GET", "/api/v1/incidents", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/incidents", `{"title":"Matrix","account_ids":["{other}"],"from":"2020-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z"}`,
			want{403, 403, 403, 403, 201, 403, 401}},
		{"GET", "/api/v1/incidents/{incident}", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"DELETE", "/api/v1/incidents/{incident}", "", want{403, 403, 403, 403, 403, 403, 401}},
		{"POST", "/api/v1/incidents/{incident}/awareness", `{"at":"2025-01-01T00:00:00Z"}`, want{403, 403, 403, 403, 403, 403, 401, 200}},
		{"POST", "/api/v1/incidents/{incident}/decisions", `{"text":"decided"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"PUT", "/api/v1/incidents/{incident}/notification", `{"nature":"n"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/incidents/{incident}/rescope", `{}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/incidents/{incident}/letters", `{"phase":"1"}`, want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/incidents/{incident}/regulator-notification", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"GET", "/api/v1/incidents/{incident}/regulator-notification.pdf", "", want{403, 403, 403, 403, 200, 403, 401}},
		{"POST", "/api/v1/incidents/{incident}/close", `{"conclusion":"done"}`, want{403, 403, 403, 403, 403, 403, 401, 200}},
		{"GET", "/api/v1/me/letters", "", want{403, 403, 403, 403, 403, 200, 401}},
		{"POST", "/api/v1/me/password", `{"current_password":"not the password","new_password":"a long enough new password"}`, want{400, 400, 400, 400, 400, 400, 401}},
		{"POST", "/api/v1/logout", "", want{204, 204, 204, 204, 204, 204, 401}},
	}
	users := [nWho]string{"therapist", "other", "manager", "managerb", "security", "aino", "", "dpo"}
	for i := range rows {
		if rows[i].want[dpo] == 0 {
			rows[i].want[dpo] = dpoWant(rows[i].method, rows[i].path, rows[i].want)
		}
	}
	for w := range nWho {
		t.Run(whoNames[w], func(t *testing.T) {
			m := newMatrixWorld(t)
			token := ""
			if users[w] != "" {
				token = m.login(t, users[w])
			}
			seen := map[string]bool{}
			for _, row := range rows {
				r := req{Method: row.method, Path: m.expand(row.path), Token: token}
				switch {
				case strings.HasPrefix(row.body, "raw:"):
					r.Body = []byte(strings.TrimPrefix(row.body, "raw:"))
					r.Header = map[string]string{"Content-Disposition": `attachment; filename="scan.txt"`}
				case row.body != "":
					body := row.body
					if strings.Contains(body, "{code}") {
						// The caller's current second-factor code (step-up):
						// the security officer's (approving) and the
						// therapists' (break-the-glass) get that far.
						code := "000000"
						therapists := users[w] == "therapist" || users[w] == "other"
						if strings.Contains(row.path, "/break-glass") == therapists && (therapists || w == security || w == dpo) {
							code = testfix.Code(t, m.secretOf(t, users[w]))
						}
						body = strings.ReplaceAll(body, "{code}", code)
					}
					r.Body = m.expand(body)
				}
				res := m.do(t, r)
				name := fmt.Sprintf("%s %s as %s", row.method, row.path, whoNames[w])
				if res.Code != row.want[w] {
					t.Errorf("%s: status %d, want %d; body %.300s", name, res.Code, row.want[w], res.Body)
				}
				if res.Code >= 400 {
					res.errorOf(t)
				}
				for _, marker := range []string{clinMarker, privMarker} {
					if bytes.Contains(res.Body, []byte(marker)) {
						seen[marker] = true
						if !who(w).canSee(marker) {
							t.Errorf("%s: response carries %s content: %.300s", name, marker, res.Body)
						}
					}
				}
			}
			// The markers work: whoever may see content did see it.
			for _, marker := range []string{clinMarker, privMarker} {
				if who(w).canSee(marker) && !seen[marker] {
					t.Errorf("%s never saw %s content; is the matrix checking anything?", whoNames[w], marker)
				}
			}
			if log := m.log.String(); strings.Contains(log, clinMarker) || strings.Contains(log, privMarker) {
				t.Errorf("clinical content in the log")
			}
		})
	}
}

// TestSecondTherapistInCare checks the author rules between two therapists
// who both have the patient in care: the second reads the chart but not the
// first one's process notes, and cannot edit or sign the first one's draft.
func TestSecondTherapistInCare(t *testing.T) {
	m := newMatrixWorld(t)
	if _, err := m.Service.AssignCare(m.As(m.Manager), m.PatientA.ID, m.OtherTherapist.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tok := m.login(t, "other")
	res := m.call(t, 200, "GET", "/api/v1/patients/"+m.PatientA.ID+"/chart", tok, nil)
	if !bytes.Contains(res.Body, []byte(clinMarker)) {
		t.Error("second therapist does not see the chart")
	}
	for _, path := range []string{"/chart", "/process-notes"} {
		res := m.call(t, 200, "GET", "/api/v1/patients/"+m.PatientA.ID+path, tok, nil)
		if bytes.Contains(res.Body, []byte("Process "+clinMarker)) {
			t.Errorf("%s: another therapist's process note is visible", path)
		}
	}
	res = m.call(t, 403, "PUT", "/api/v1/notes/"+m.ids["{draftEdit}"]+"/draft", tok, draftRequest{Version: 1, Template: "free", Body: "x"})
	if code := res.errorOf(t).Error.Code; code != "not_author" {
		t.Errorf("edit another's draft: code %q", code)
	}
	m.call(t, 403, "POST", "/api/v1/notes/"+m.ids["{draftSign}"]+"/sign", tok, nil)
	// Amending a signed note is open to any therapist in care; the new
	// version carries its own author.
	var n noteView
	m.call(t, 200, "POST", "/api/v1/notes/"+m.ids["{signed}"]+"/amend", tok, amendRequest{Body: "Addendum"}).decode(t, &n)
	if v := n.Versions[len(n.Versions)-1]; v.AuthorID != m.OtherTherapist.ID || n.AuthorID != m.Therapist.ID {
		t.Errorf("amendment authors: note %s, version %s", n.AuthorID, v.AuthorID)
	}
}
