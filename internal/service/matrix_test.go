package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

func newWorld(t *testing.T) *testfix.World {
	t.Helper()
	return testfix.New(t, testfix.SQLite(t))
}

// The actors of the matrix, in column order.
var columns = []string{"therapist", "other", "therapistB", "manager", "managerB", "security", "patient"}

const (
	ok   = "ok"
	nf   = "not_found"
	perm = "permission_denied"
	inv  = "invalid"
	cf   = "conflict"
)

// TestRoleActionMatrix runs every service operation as every kind of actor
// and compares the outcome with a table written out by hand. "therapist" is
// in care of patient A; "other" is a therapist of the same clinic without
// care; "therapistB" and "managerB" belong to clinic B; "patient" is patient
// A's portal account.
//
// Every write the service makes runs outside the access log's sequencer
// (staged, see internal/audit): the test fails if one ran inside it.
func TestRoleActionMatrix(t *testing.T) {
	w := newWorld(t)
	log := testfix.Log(w.Store)
	before := log.Stats()
	defer func() {
		s := log.Stats()
		if s.Unstaged != before.Unstaged || s.Staged == before.Staged {
			t.Errorf("access log stats %+v before, %+v after: every service write must be staged", before, s)
		}
	}()
	svc := w.Service
	th := w.As(w.Therapist)
	var seq atomic.Int64
	uniq := func() int64 { return seq.Add(1) }

	// Records of patient A written by the therapist in care.
	released := mustNote(t, svc, th, w.PatientA.ID, true, true)
	diag, err := svc.AddDiagnosis(th, w.PatientA.ID, "F32.1", "")
	if err != nil {
		t.Fatal(err)
	}
	att, err := svc.UploadAttachment(th, w.PatientA.ID, "a.txt", strings.NewReader("plain text attachment"))
	if err != nil {
		t.Fatal(err)
	}
	incidentInput := func() service.IncidentInput {
		return service.IncidentInput{Title: "Matrix incident", Scope: service.ScopeInput{AccountIDs: []string{w.Therapist.ID},
			From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}}
	}
	freshIncident := func() string {
		i, err := svc.OpenIncident(w.As(w.Security), incidentInput())
		if err != nil {
			t.Fatal(err)
		}
		return i.ID
	}
	freshDraft := func() string { return mustNote(t, svc, th, w.PatientA.ID, false, false).ID }
	freshSigned := func() string { return mustNote(t, svc, th, w.PatientA.ID, true, false).ID }
	// freshPending invites a therapist to clinic B as its manager: an
	// account awaiting approval.
	freshPending := func() service.Invited {
		n := uniq()
		inv, err := svc.CreateStaff(w.As(w.ManagerB), service.StaffInput{
			Username: fmt.Sprint("pending", n), DisplayName: "Pending", Role: confidant.RoleTherapist,
			ClinicIDs: []string{w.ClinicB.ID}, Email: fmt.Sprint("pending", n, "@example.org"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	freshCare := func() string {
		id := confidant.NewID()
		now := time.Now().UTC()
		err := w.Store.Update(context.Background(), func(tx confidant.Tx) error {
			return tx.CreateCare(context.Background(), confidant.CareRelationship{
				ID: id, PatientID: w.PatientC.ID, TherapistID: w.OtherTherapist.ID, ClinicID: w.ClinicA.ID,
				From: now.Add(-time.Hour), CreatedBy: w.Manager.ID, CreatedAt: now,
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// PatientD: clinic A, nobody's care, for break-the-glass (PatientC
	// gets care during the matrix).
	codeD, err := confidant.MakeIdentityCode(time.Date(1979, 4, 4, 0, 0, 0, 0, time.UTC), 906)
	if err != nil {
		t.Fatal(err)
	}
	patD, err := svc.CreatePatient(w.As(w.Manager), service.PatientInput{
		ClinicID: w.ClinicA.ID, GivenName: "Doris", FamilyName: "Lehto", IdentityCode: codeD,
	})
	if err != nil {
		t.Fatal(err)
	}
	// stepCode is the current second-factor code of the actor of c, for
	// the therapists of clinic A (the only ones whose break-the-glass gets
	// as far as the code; others send a wrong one, which they never reach).
	stepCode := func(c context.Context) string {
		a, _ := confidant.ActorFrom(c)
		for _, u := range []confidant.User{w.Therapist, w.OtherTherapist} {
			if u.ID == a.UserID {
				return testfix.Code(t, w.TOTPSecret(u))
			}
		}
		return "000000"
	}
	// freshAlert is an alert with the given status, made in the store (a
	// dismissed one by someone other than any actor of the matrix).
	freshAlert := func(status confidant.AlertStatus) string {
		a := confidant.Alert{ID: confidant.NewID(), Rule: "no_care", Severity: confidant.AlertMedium, Key: confidant.NewID(),
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Status: status}
		if status == confidant.AlertDismissed {
			a.DecidedBy, a.DecidedAt, a.Reason = confidant.NewID(), a.CreatedAt, "dismissed before the matrix"
		}
		err := w.Store.Update(context.Background(), func(tx confidant.Tx) error {
			_, err := tx.CreateAlert(context.Background(), a)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	// freshRecipient is a configured recipient of the given status,
	// proposed by someone who is not the security officer, made in the
	// store.
	freshRecipient := func(status confidant.RecipientStatus) string {
		id := confidant.NewID()
		now := time.Now().UTC().Truncate(time.Microsecond)
		r := confidant.Recipient{ID: id, Kind: confidant.RecipientEmail, Label: confidant.LabelBoard, Address: "board@example.org",
			Status: status, ProposedBy: w.Manager.ID, ProposedAt: now}
		if status != confidant.RecipientPending {
			r.ApprovedBy, r.ApprovedAt = w.Therapist.ID, now
		}
		if err := w.Store.Update(context.Background(), func(tx confidant.Tx) error { return tx.CreateRecipient(context.Background(), r) }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	secCode := func(c context.Context) string {
		if a, _ := confidant.ActorFrom(c); a.UserID == w.Security.ID {
			return testfix.Code(t, w.TOTPSecret(w.Security))
		}
		return "000000"
	}
	digestSvc, err := service.New(w.Store, testfix.FastHasher{}, service.DefaultConfig(), service.WithAuditor(log),
		service.WithAuditReader(log), service.WithBoardDigest(7*24*time.Hour, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	// freshGrant is an open break-the-glass grant of the other therapist
	// for patient D, made in the store.
	freshGrant := func() string {
		id := confidant.NewID()
		now := time.Now().UTC().Truncate(time.Microsecond)
		err := w.Store.Update(context.Background(), func(tx confidant.Tx) error {
			return tx.CreateBreakGlass(context.Background(), confidant.BreakGlass{
				ID: id, TherapistID: w.OtherTherapist.ID, PatientID: patD.ID, ClinicID: w.ClinicA.ID, Category: "other",
				Reason: "a reason long enough", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute),
				Status: confidant.BreakGlassOpen,
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	code := func() string {
		c, err := confidant.MakeIdentityCode(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(uniq())), 950)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	type op struct {
		name string
		run  func(ctx context.Context) error
		want [7]string // by columns
	}
	e := func(_ any, err error) error { return err }
	ops := []op{
		{"MyPatients", func(c context.Context) error { return e(svc.MyPatients(c)) },
			[7]string{ok, ok, ok, perm, perm, perm, perm}},
		{"SearchPatients", func(c context.Context) error { return e(svc.SearchPatients(c, "äij")) },
			[7]string{ok, ok, ok, perm, perm, perm, perm}},
		{"CreatePatient", func(c context.Context) error {
			return e(svc.CreatePatient(c, service.PatientInput{ClinicID: w.ClinicA.ID, GivenName: "X", FamilyName: "Y", IdentityCode: code()}))
		}, [7]string{ok, ok, inv, ok, nf, perm, perm}},
		{"Patient", func(c context.Context) error { return e(svc.Patient(c, w.PatientA.ID)) },
			[7]string{ok, nf, nf, ok, nf, perm, ok}},
		{"Chart", func(c context.Context) error { return e(svc.Chart(c, w.PatientA.ID)) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"Notes", func(c context.Context) error { return e(svc.Notes(c, w.PatientA.ID)) },
			[7]string{ok, nf, nf, perm, perm, perm, ok}},
		{"Note(released)", func(c context.Context) error { return e(svc.Note(c, released.ID)) },
			[7]string{ok, nf, nf, perm, perm, perm, ok}},
		{"Note(draft)", func(c context.Context) error { return e(svc.Note(c, freshDraft())) },
			[7]string{ok, nf, nf, perm, perm, perm, nf}},
		{"CreateNote", func(c context.Context) error {
			return e(svc.CreateNote(c, w.PatientA.ID, service.NoteInput{Body: "x"}))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"UpdateDraft", func(c context.Context) error {
			return e(svc.UpdateDraft(c, freshDraft(), 1, confidant.TemplateFree, "changed"))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"SignNote", func(c context.Context) error { return e(svc.SignNote(c, freshDraft())) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"AmendNote", func(c context.Context) error { return e(svc.AmendNote(c, released.ID, "amended", "why")) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"ReleaseNote", func(c context.Context) error { return e(svc.ReleaseNote(c, freshSigned())) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"CreateProcessNote", func(c context.Context) error { return e(svc.CreateProcessNote(c, w.PatientA.ID, "private")) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"ProcessNotes", func(c context.Context) error { return e(svc.ProcessNotes(c, w.PatientA.ID)) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"AddDiagnosis", func(c context.Context) error { return e(svc.AddDiagnosis(c, w.PatientA.ID, "F41.1", "")) },
			[7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"SetDiagnosisStatus", func(c context.Context) error {
			return e(svc.SetDiagnosisStatus(c, diag.ID, confidant.DiagnosisResolved))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"SavePlan", func(c context.Context) error {
			return e(svc.SavePlan(c, w.PatientA.ID, service.PlanInput{Goals: "sleep better"}))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"RecordMeasure", func(c context.Context) error {
			return e(svc.RecordMeasure(c, w.PatientA.ID, confidant.GAD7, []int{1, 1, 1, 1, 1, 1, 1}, time.Time{}))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"UploadAttachment", func(c context.Context) error {
			return e(svc.UploadAttachment(c, w.PatientA.ID, "b.txt", strings.NewReader("more text")))
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"OpenAttachment", func(c context.Context) error {
			_, _, err := svc.OpenAttachment(c, att.ID)
			return err
		}, [7]string{ok, nf, nf, perm, perm, perm, perm}},
		{"MyRecord", func(c context.Context) error {
			_, _, err := svc.MyRecord(c)
			return err
		}, [7]string{perm, perm, perm, perm, perm, perm, ok}},
		{"Clinics", func(c context.Context) error { return e(svc.Clinics(c)) },
			[7]string{ok, ok, ok, ok, ok, ok, perm}},
		{"CreateClinic", func(c context.Context) error { return e(svc.CreateClinic(c, fmt.Sprint("Clinic ", uniq()), "Oulu")) },
			[7]string{perm, perm, perm, ok, ok, perm, perm}},
		{"UpdateClinic", func(c context.Context) error {
			return e(svc.UpdateClinic(c, w.ClinicA.ID, "Klinikka Helsinki", "Helsinki"))
		},
			[7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"Staff", func(c context.Context) error { return e(svc.Staff(c, "")) },
			[7]string{perm, perm, perm, ok, ok, ok, perm}},
		{"CreateStaff", func(c context.Context) error {
			return e(svc.CreateStaff(c, service.StaffInput{
				Username: fmt.Sprint("new", uniq()), DisplayName: "New", Role: confidant.RoleTherapist,
				ClinicIDs: []string{w.ClinicA.ID}, Email: "new@example.org",
			}))
		}, [7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"UpdateStaff", func(c context.Context) error {
			return e(svc.UpdateStaff(c, w.OtherTherapist.ID, service.StaffUpdate{DisplayName: "other", ClinicIDs: []string{w.ClinicA.ID}}))
		}, [7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"CreatePatientAccount", func(c context.Context) error {
			return e(svc.CreatePatientAccount(c, w.PatientC.ID, service.PatientAccountInput{Username: fmt.Sprint("pc", uniq()), Handover: true}))
		}, [7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"CareList", func(c context.Context) error { return e(svc.CareList(c, w.ClinicA.ID, true)) },
			[7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"AssignCare", func(c context.Context) error {
			return e(svc.AssignCare(c, w.PatientC.ID, w.Therapist.ID, time.Time{}))
		}, [7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"EndCare", func(c context.Context) error { return e(svc.EndCare(c, freshCare())) },
			[7]string{perm, perm, perm, ok, nf, perm, perm}},
		{"SetAccountDisabled", func(c context.Context) error {
			_, err := svc.SetAccountDisabled(c, w.OtherTherapist.ID, false)
			return err
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ListThrottled", func(c context.Context) error { return e(svc.ListThrottled(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ClearThrottle", func(c context.Context) error { return svc.ClearThrottle(c, w.OtherTherapist.ID) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"AccountsAwaitingApproval", func(c context.Context) error { return e(svc.AccountsAwaitingApproval(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ApproveAccount", func(c context.Context) error {
			code := "" // the step-up code: only a security officer gets this far
			if a, _ := confidant.ActorFrom(c); a.UserID == w.Security.ID {
				code = testfix.Code(t, w.TOTPSecret(w.Security))
			}
			return e(svc.ApproveAccount(c, freshPending().User.ID, code))
		},
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ResetAccount", func(c context.Context) error { return e(svc.ResetAccount(c, freshPending().User.ID)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		// Break-the-glass: a therapist of the patient's clinic without care
		// (both of clinic A's, for patient D); clinic B's does not find the
		// patient; in care, it is not needed.
		{"BreakGlass", func(c context.Context) error {
			return e(svc.BreakGlass(c, patD.ID, "risk_to_life", "called the crisis line at night", stepCode(c)))
		}, [7]string{ok, ok, nf, perm, perm, perm, perm}},
		{"BreakGlass(in care)", func(c context.Context) error {
			return e(svc.BreakGlass(c, w.PatientA.ID, "risk_to_life", "called the crisis line at night", stepCode(c)))
		}, [7]string{cf, ok, nf, perm, perm, perm, perm}},
		// Under the grants just taken: the chart, a new note; not a
		// release (the treating therapists'), and still only one's own
		// process notes.
		{"Chart(emergency)", func(c context.Context) error { return e(svc.Chart(c, patD.ID)) },
			[7]string{ok, ok, nf, perm, perm, perm, perm}},
		{"CreateNote(emergency)", func(c context.Context) error {
			return e(svc.CreateNote(c, patD.ID, service.NoteInput{Body: "seen in crisis"}))
		}, [7]string{ok, ok, nf, perm, perm, perm, perm}},
		{"ProcessNotes(emergency)", func(c context.Context) error { return e(svc.ProcessNotes(c, patD.ID)) },
			[7]string{ok, ok, nf, perm, perm, perm, perm}},
		{"SearchForEmergency", func(c context.Context) error { return e(svc.SearchForEmergency(c, w.PatientA.IdentityCode)) },
			[7]string{ok, ok, ok, perm, perm, perm, perm}},
		{"OpenBreakGlassCount", func(c context.Context) error { return e(svc.OpenBreakGlassCount(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ListBreakGlass", func(c context.Context) error { return e(svc.ListBreakGlass(c, "all")) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ReviewBreakGlass", func(c context.Context) error {
			return e(svc.ReviewBreakGlass(c, freshGrant(), "justified", ""))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ListAlerts", func(c context.Context) error { return e(svc.ListAlerts(c, service.AlertQuery{})) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"Alert", func(c context.Context) error { return e(svc.Alert(c, freshAlert(confidant.AlertNew))) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"AcknowledgeAlert", func(c context.Context) error { return e(svc.AcknowledgeAlert(c, freshAlert(confidant.AlertNew))) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"DismissAlert", func(c context.Context) error {
			return e(svc.DismissAlert(c, freshAlert(confidant.AlertNew), "a false positive: planned records audit"))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ReopenAlert", func(c context.Context) error { return e(svc.ReopenAlert(c, freshAlert(confidant.AlertDismissed))) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"CreateHoneytoken", func(c context.Context) error { return e(svc.CreateHoneytoken(c, w.ClinicA.ID)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ListHoneytokens", func(c context.Context) error { return e(svc.ListHoneytokens(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		// The incident register: security officers (and the DPO, see
		// TestIncidentClocksAndRoles); awareness and closing are the DPO's.
		{"OpenIncident", func(c context.Context) error { return e(svc.OpenIncident(c, incidentInput())) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ListIncidents", func(c context.Context) error { return e(svc.ListIncidents(c, "")) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"Incident", func(c context.Context) error { return e(svc.Incident(c, freshIncident())) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"IncidentClocks", func(c context.Context) error { return e(svc.IncidentClocks(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"AddIncidentDecision", func(c context.Context) error { return e(svc.AddIncidentDecision(c, freshIncident(), "decided")) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"SetIncidentNotification", func(c context.Context) error {
			return e(svc.SetIncidentNotification(c, freshIncident(), confidant.IncidentNotification{Nature: "n"}))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"RescopeIncident", func(c context.Context) error { return e(svc.RescopeIncident(c, freshIncident(), service.ScopeInput{})) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"SendIncidentLetters", func(c context.Context) error { return e(svc.SendIncidentLetters(c, freshIncident(), "1", nil)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"RegulatorNotification", func(c context.Context) error { return e(svc.RegulatorNotification(c, freshIncident())) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"SetIncidentAwareness", func(c context.Context) error {
			return e(svc.SetIncidentAwareness(c, freshIncident(), time.Now().Add(-time.Minute), ""))
		}, [7]string{perm, perm, perm, perm, perm, perm, perm}},
		{"CloseIncident", func(c context.Context) error { return e(svc.CloseIncident(c, freshIncident(), "done")) },
			[7]string{perm, perm, perm, perm, perm, perm, perm}},
		{"DeleteIncident", func(c context.Context) error { return svc.DeleteIncident(c, freshIncident()) },
			[7]string{perm, perm, perm, perm, perm, perm, perm}},
		{"MyLetters", func(c context.Context) error { return e(svc.MyLetters(c)) },
			[7]string{perm, perm, perm, perm, perm, perm, ok}},
		// Recipients of alerts: security officers (and the DPO: the
		// policy matrix, TestRecipientChangeNeedsSecondPerson) only.
		{"Recipients", func(c context.Context) error { return e(svc.Recipients(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"RecipientChanges", func(c context.Context) error { return e(svc.RecipientChanges(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"Outbox", func(c context.Context) error { return e(svc.Outbox(c, "failed")) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ProposeRecipient", func(c context.Context) error {
			return e(svc.ProposeRecipient(c, "email", "board", "board@example.org", ""))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ProposeRecipientRemoval", func(c context.Context) error {
			return e(svc.ProposeRecipientRemoval(c, freshRecipient(confidant.RecipientActive)))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"ApproveRecipientChange", func(c context.Context) error {
			return e(svc.ApproveRecipientChange(c, freshRecipient(confidant.RecipientPending), secCode(c)))
		}, [7]string{perm, perm, perm, perm, perm, ok, perm}},
		{"BoardDigest", func(c context.Context) error { return e(digestSvc.BoardDigest(c)) },
			[7]string{perm, perm, perm, perm, perm, ok, perm}},
		// An invitation's token is its own authority: whoever holds it sets
		// the password, signed in or not.
		{"AcceptInvitation", func(c context.Context) error {
			p := freshPending()
			return e(svc.AcceptInvitation(c, w.Mail.InvitationCode(t, p.User.Email), testfix.Password))
		}, [7]string{ok, ok, ok, ok, ok, ok, ok}},
	}
	actors := map[string]confidant.User{
		"therapist": w.Therapist, "other": w.OtherTherapist, "therapistB": w.TherapistB,
		"manager": w.Manager, "managerB": w.ManagerB, "security": w.Security, "patient": w.PatientUser,
	}
	for _, o := range ops {
		for i, col := range columns {
			t.Run(o.name+"/"+col, func(t *testing.T) {
				err := o.run(w.As(actors[col]))
				got := ok
				if err != nil {
					got = confidant.KindOf(err).String()
				}
				if got != o.want[i] {
					t.Errorf("got %s (%v), want %s", got, err, o.want[i])
				}
			})
		}
	}
}

// TestNoActorFailsClosed: every operation refuses a context without an actor.
func TestNoActorFailsClosed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	svc := w.Service
	for name, run := range map[string]func() error{
		"MyPatients": func() error { _, err := svc.MyPatients(ctx); return err },
		"Chart":      func() error { _, err := svc.Chart(ctx, w.PatientA.ID); return err },
		"Note":       func() error { _, err := svc.Note(ctx, confidant.NewID()); return err },
		"Patient":    func() error { _, err := svc.Patient(ctx, w.PatientA.ID); return err },
		"Staff":      func() error { _, err := svc.Staff(ctx, ""); return err },
		"MyRecord":   func() error { _, _, err := svc.MyRecord(ctx); return err },
		"CreateNote": func() error {
			_, err := svc.CreateNote(ctx, w.PatientA.ID, service.NoteInput{Body: "x"})
			return err
		},
	} {
		if err := run(); confidant.KindOf(err) != confidant.KindUnauthenticated {
			t.Errorf("%s without actor: %v", name, err)
		}
	}
}

// mustNote creates a note on patient as ctx's therapist, optionally signed
// and released.
func mustNote(t *testing.T, svc *service.Service, ctx context.Context, patient string, sign, release bool) confidant.Note {
	t.Helper()
	n, err := svc.CreateNote(ctx, patient, service.NoteInput{Template: confidant.TemplateFree, Body: "Session went well."})
	if err != nil {
		t.Fatal(err)
	}
	if sign {
		if n, err = svc.SignNote(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	if release {
		if n, err = svc.ReleaseNote(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
