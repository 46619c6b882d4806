package service_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

const dismissReason = "Reviewed with the clinic manager: the access was part of a planned audit."

// staff makes an extra staff account (a DPO, a second security officer).
func staff(t *testing.T, w *testfix.World, username string, role confidant.Role) confidant.User {
	t.Helper()
	u, err := w.Service.OperatorCreateUser(context.Background(), service.StaffInput{
		Username: username, DisplayName: username, Role: role, Password: testfix.Password,
	})
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return u
}

func detectorAlert(w *testfix.World, key string) confidant.Alert {
	return confidant.Alert{
		Rule: "no_care", Severity: confidant.AlertHigh, ActorID: w.OtherTherapist.ID, ClinicID: w.ClinicA.ID,
		PatientIDs: []string{w.PatientA.ID, w.PatientC.ID}, Explanation: "Read 2 charts without a care relationship.",
		From: time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond), To: time.Now().UTC().Truncate(time.Microsecond),
		FirstIndex: 3, LastIndex: 9, Key: key,
	}
}

// events returns the access-log events of action (any actor), newest first.
func logEvents(t *testing.T, st confidant.Store, action string) []confidant.StoredEvent {
	t.Helper()
	evs, err := testfix.Log(st).Query(context.Background(), confidant.EventFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// The detector raises alerts idempotently by key, each an event naming
// the alert and no patient; officers list them newest first with filters.
func TestRaiseAlerts(t *testing.T) {
	w := newClockWorld(t)
	ctx := context.Background() // the detector has no actor
	got, err := w.svc.RaiseAlertsNow(ctx, []confidant.Alert{detectorAlert(w.World, "k1"), detectorAlert(w.World, "k2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("raised %d alerts, want 2", len(got))
	}
	now := w.now.UTC().Truncate(time.Microsecond)
	for _, a := range got {
		if !confidant.ValidID(a.ID) || a.Status != confidant.AlertNew || !a.CreatedAt.Equal(now) {
			t.Errorf("raised alert: %+v", a)
		}
	}
	// The same keys again (and one new): only the new one is stored.
	w.advance(time.Minute)
	again, err := w.svc.RaiseAlertsNow(ctx, []confidant.Alert{detectorAlert(w.World, "k1"), detectorAlert(w.World, "k3"), detectorAlert(w.World, "k2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].Key != "k3" {
		t.Fatalf("raised again: %+v, want only k3", again)
	}
	// Bad input is refused whole.
	bad := detectorAlert(w.World, "k4")
	bad.Severity = "urgent"
	if _, err := w.svc.RaiseAlertsNow(ctx, []confidant.Alert{bad}); confidant.CodeOf(err) != "invalid_alert" {
		t.Errorf("unknown severity: %v", err)
	}

	raised := logEvents(t, w.Store, service.ActAlertRaised)
	if len(raised) != 3 {
		t.Fatalf("%d alert.raised events, want 3", len(raised))
	}
	ids := []string{got[0].ID, got[1].ID, again[0].ID}
	for _, e := range raised {
		if !slices.Contains(ids, e.RecordID) || e.PatientID != "" || e.ActorID != service.DetectorActor {
			t.Errorf("alert.raised event: record %s patient %q actor %q", e.RecordID, e.PatientID, e.ActorID)
		}
	}

	sec := w.As(w.Security)
	as, err := w.svc.ListAlerts(sec, service.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 || as[0].ID != again[0].ID {
		t.Fatalf("ListAlerts: %d alerts, first %s; want 3, newest first", len(as), as[0].ID)
	}
	if a := as[1]; !slices.Equal(a.PatientIDs, []string{w.PatientA.ID, w.PatientC.ID}) || a.Explanation == "" || a.Tampered {
		t.Errorf("listed alert: %+v", a)
	}
	since, err := w.svc.ListAlerts(sec, service.AlertQuery{Since: now.Add(time.Second)})
	if err != nil || len(since) != 1 || since[0].Key != "k3" {
		t.Errorf("ListAlerts since: %d alerts, %v", len(since), err)
	}
	page, err := w.svc.ListAlerts(sec, service.AlertQuery{Limit: 1, Before: as[0].ID})
	if err != nil || len(page) != 1 || page[0].ID != as[1].ID {
		t.Errorf("ListAlerts before: %+v, %v", page, err)
	}
	for _, q := range []service.AlertQuery{{Limit: 1001}, {Limit: -1}, {Status: "open"}, {Before: "x"}} {
		if _, err := w.svc.ListAlerts(sec, q); confidant.KindOf(err) != confidant.KindInvalid {
			t.Errorf("ListAlerts(%+v): %v, want invalid", q, err)
		}
	}
	if n := len(logEvents(t, w.Store, service.ActAlertsList)); n < 3 {
		t.Errorf("%d alerts.list events, want one per listing", n)
	}
	// Counts by rule for the board's digest.
	var counts map[string]int
	if err := w.Store.View(ctx, func(tx confidant.Tx) error {
		var err error
		counts, err = tx.CountAlerts(ctx, now, now.Add(time.Hour))
		return err
	}); err != nil || counts["no_care"] != 3 {
		t.Errorf("CountAlerts: %v, %v", counts, err)
	}
}

// Acknowledge, dismiss (with a reason), reopen (by someone else only),
// escalate; each an event; refusals for roles other than security and DPO.
func TestAlertLifecycle(t *testing.T) {
	w := newClockWorld(t)
	dpo := w.DPO
	sec2 := staff(t, w.World, "security2", confidant.RoleSecurity)
	raised, err := w.svc.RaiseAlertsNow(context.Background(), []confidant.Alert{detectorAlert(w.World, "a"), detectorAlert(w.World, "b")})
	if err != nil {
		t.Fatal(err)
	}
	id, id2 := raised[0].ID, raised[1].ID
	sec := w.As(w.Security)

	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser} {
		c := w.As(u)
		if _, err := w.svc.ListAlerts(c, service.AlertQuery{}); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s ListAlerts: %v", u.Role, err)
		}
		if _, err := w.svc.Alert(c, id); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s Alert: %v", u.Role, err)
		}
		if _, err := w.svc.AcknowledgeAlert(c, id); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s AcknowledgeAlert: %v", u.Role, err)
		}
		if _, err := w.svc.DismissAlert(c, id, dismissReason); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s DismissAlert: %v", u.Role, err)
		}
	}
	if _, err := w.svc.AcknowledgeAlert(sec, confidant.NewID()); confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("acknowledge an unknown alert: %v", err)
	}

	a, err := w.svc.AcknowledgeAlert(sec, id)
	if err != nil || a.Status != confidant.AlertAcknowledged || a.DecidedBy != w.Security.ID {
		t.Fatalf("acknowledge: %+v, %v", a, err)
	}
	if _, err := w.svc.AcknowledgeAlert(sec, id); confidant.CodeOf(err) != "alert_state" {
		t.Errorf("acknowledge twice: %v", err)
	}
	for _, r := range []string{"", "   too short ", strings.Repeat("x", 1001), "bad \xff utf-8 in reason"} {
		if _, err := w.svc.DismissAlert(sec, id, r); confidant.CodeOf(err) != "invalid_reason" {
			t.Errorf("dismiss with reason %q: %v", r, err)
		}
	}
	w.advance(time.Minute)
	a, err = w.svc.DismissAlert(sec, id, "  "+dismissReason+"\n")
	if err != nil || a.Status != confidant.AlertDismissed || a.Reason != dismissReason {
		t.Fatalf("dismiss: %+v, %v", a, err)
	}
	// Dismissals are reviewable: who, when, why.
	ds, err := w.svc.ListAlerts(w.As(dpo), service.AlertQuery{Status: confidant.AlertDismissed})
	if err != nil || len(ds) != 1 || ds[0].DecidedBy != w.Security.ID || ds[0].Reason != dismissReason ||
		!ds[0].DecidedAt.Equal(w.now.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("dismissed alerts: %+v, %v", ds, err)
	}
	// Not reopened by the one who dismissed it; by another officer, yes.
	if _, err := w.svc.ReopenAlert(sec, id); confidant.CodeOf(err) != "own_dismissal" {
		t.Errorf("reopen own dismissal: %v", err)
	}
	a, err = w.svc.ReopenAlert(w.As(sec2), id)
	if err != nil || a.Status != confidant.AlertNew || a.Reason != "" || a.DecidedBy != sec2.ID {
		t.Fatalf("reopen: %+v, %v", a, err)
	}
	if _, err := w.svc.ReopenAlert(w.As(sec2), id); confidant.CodeOf(err) != "alert_state" {
		t.Errorf("reopen a new alert: %v", err)
	}
	// The DPO manages alerts too.
	if _, err := w.svc.DismissAlert(w.As(dpo), id, dismissReason); err != nil {
		t.Errorf("DPO dismisses: %v", err)
	}
	if a, err := w.svc.ReopenAlert(sec, id); err != nil || a.Status != confidant.AlertNew {
		t.Errorf("security reopens the DPO's dismissal: %+v, %v", a, err)
	}

	// Escalation in the incident register's transaction.
	incident := confidant.NewID()
	var esc []confidant.Alert
	err = w.Store.Update(sec, func(tx confidant.Tx) error {
		var err error
		esc, err = w.svc.EscalateAlerts(sec, tx, []string{id, id2}, incident)
		return err
	})
	if err != nil || len(esc) != 2 || esc[0].Status != confidant.AlertEscalated || esc[1].IncidentID != incident {
		t.Fatalf("escalate: %+v, %v", esc, err)
	}
	err = w.Store.Update(sec, func(tx confidant.Tx) error {
		_, err := w.svc.EscalateAlerts(sec, tx, []string{id}, confidant.NewID())
		return err
	})
	if confidant.CodeOf(err) != "alert_state" {
		t.Errorf("escalate twice: %v", err)
	}
	err = w.Store.Update(sec, func(tx confidant.Tx) error {
		_, err := w.svc.EscalateAlerts(w.As(w.Manager), tx, []string{id}, confidant.NewID())
		return err
	})
	if confidant.KindOf(err) != confidant.KindPermission {
		t.Errorf("manager escalates: %v", err)
	}
	got, err := w.svc.Alert(w.As(dpo), id2)
	if err != nil || got.Status != confidant.AlertEscalated || got.IncidentID != incident {
		t.Errorf("escalated alert: %+v, %v", got, err)
	}

	// Every change is an event with the alert as its record.
	for action, n := range map[string]int{
		service.ActAlertAcknowledged: 1, service.ActAlertDismissed: 2, service.ActAlertReopened: 2, service.ActAlertEscalated: 2,
	} {
		var okEvents int
		for _, e := range logEvents(t, w.Store, action) {
			if e.Outcome == confidant.OutcomeOK {
				okEvents++
				if e.RecordID != id && e.RecordID != id2 {
					t.Errorf("%s event on record %s", action, e.RecordID)
				}
			}
		}
		if okEvents != n {
			t.Errorf("%d %s events, want %d", okEvents, action, n)
		}
	}
	// Refusals are recorded too.
	denied := 0
	for _, e := range logEvents(t, w.Store, service.ActAlertsList) {
		if e.Outcome == confidant.OutcomeDenied {
			denied++
		}
	}
	if denied != 3 {
		t.Errorf("%d refused listings recorded, want 3", denied)
	}
}

// A database writer marks an alert dismissed by SQL: it is still listed,
// shown as tampered, cannot be changed further, and the forgery is
// reported in the access log (integrity.fact_forged).
func TestTamperedAlert(t *testing.T) {
	for name, open := range forgeStores(t) {
		t.Run(name, func(t *testing.T) {
			fs := open(t)
			w := testfix.New(t, fs.st)
			svc := w.Service
			raised, err := svc.RaiseAlertsNow(context.Background(), []confidant.Alert{detectorAlert(w, "t1"), detectorAlert(w, "t2")})
			if err != nil {
				t.Fatal(err)
			}
			id := raised[0].ID
			fs.exec(t, `UPDATE alerts SET status = 'dismissed', decided_by = ? WHERE id = ?`, w.Security.ID, id)
			sec := w.As(w.Security)
			as, err := svc.ListAlerts(sec, service.AlertQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != 2 {
				t.Fatalf("%d alerts listed, want 2 (a tampered one is not hidden)", len(as))
			}
			for _, a := range as {
				if a.Tampered != (a.ID == id) {
					t.Errorf("alert %s: tampered %v", a.ID, a.Tampered)
				}
			}
			if _, err := svc.ReopenAlert(w.As(w.Manager), id); confidant.KindOf(err) != confidant.KindPermission {
				t.Errorf("manager reopens: %v", err)
			}
			if _, err := svc.AcknowledgeAlert(sec, id); confidant.CodeOf(err) != "alert_tampered" {
				t.Errorf("change a tampered alert: %v", err)
			}
			// A sealed part moved from another alert is tampering too.
			fs.exec(t, `UPDATE alerts SET data = (SELECT data FROM alerts WHERE id = ?) WHERE id = ?`, id, raised[1].ID)
			a, err := svc.Alert(sec, raised[1].ID)
			if err != nil || !a.Tampered {
				t.Errorf("alert with another's sealed part: %+v, %v", a, err)
			}
			waitReported(t, fs.st, id, raised[1].ID)
		})
	}
}

// waitReported waits until each id is reported as forged in the access log.
func waitReported(t *testing.T, st confidant.Store, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		for _, e := range logEvents(t, st, service.ActFactForged) {
			got = append(got, e.RecordID)
		}
		missing := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(got, id) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forgeries not reported: %v (reported %v)", missing, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
