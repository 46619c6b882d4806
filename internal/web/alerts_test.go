package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// staffAs makes a staff account (a DPO, a second security officer) with a
// second factor and returns a browser signed in as it.
func (e *env) staffAs(t *testing.T, username string, role confidant.Role) (confidant.User, *client) {
	t.Helper()
	ctx := context.Background()
	svc := e.w.Service
	u, err := svc.OperatorCreateUser(ctx, service.StaffInput{Username: username, DisplayName: "Staff " + username, Role: role, Password: testfix.Password})
	if err != nil {
		t.Fatal(err)
	}
	raw, secret := testfix.NewTOTPSecret()
	if err := e.w.Store.Update(ctx, func(tx confidant.Tx) error {
		return service.EnrolTOTP(ctx, tx, u.ID, raw, time.Now().UTC().Truncate(time.Microsecond))
	}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Login(ctx, username, testfix.Password, service.SessionWeb)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.Code(t, secret), service.SessionWeb, ""); err != nil {
		t.Fatal(err)
	}
	return u, e.withToken(res.Token)
}

// The alerts page: security officers and the DPO see the table and act on
// it (acknowledge, dismiss with a reason, reopen someone else's dismissal);
// others are refused; the navigation links it for both roles.
func TestAlertsPage(t *testing.T) {
	e := newEnv(t)
	_, dpo := e.staffAs(t, "dpo2", confidant.RoleDPO)
	sec := e.as(e.w.Security)
	raised, err := e.w.Service.RaiseAlertsNow(context.Background(), []confidant.Alert{{
		Rule: "no_care", Severity: confidant.AlertHigh, ActorID: e.w.OtherTherapist.ID, ClinicID: e.w.ClinicA.ID,
		PatientIDs: []string{e.w.PatientA.ID, e.w.PatientC.ID}, Explanation: "Read 2 charts without a care relationship.", Key: "w1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := raised[0].ID

	for _, u := range []confidant.User{e.w.Therapist, e.w.Manager} {
		c := e.as(u)
		if r := c.get("/alerts"); r.status != http.StatusForbidden || strings.Contains(r.body, "Read 2 charts") {
			t.Errorf("%s GET /alerts: %d", u.Role, r.status)
		}
		if r := c.post("/alerts/"+id+"/acknowledge", nil); r.status != http.StatusForbidden {
			t.Errorf("%s acknowledges: %d", u.Role, r.status)
		}
		if r := c.get("/honeytokens"); r.status != http.StatusForbidden {
			t.Errorf("%s GET /honeytokens: %d", u.Role, r.status)
		}
	}

	for name, c := range map[string]*client{"security": sec, "dpo": dpo} {
		r := c.get("/alerts")
		if r.status != http.StatusOK || !strings.Contains(r.body, "Read 2 charts without a care relationship.") ||
			!strings.Contains(r.body, `action="/alerts/`+id+`/acknowledge"`) || !strings.Contains(r.body, `<td>2</td>`) ||
			!strings.Contains(r.body, `href="/alerts"`) || !strings.Contains(r.body, `href="/honeytokens"`) {
			t.Errorf("%s GET /alerts: %d %.2000s", name, r.status, r.body)
		}
	}

	done := sec.follow("/alerts/"+id+"/acknowledge", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, "The alert was acknowledged.") {
		t.Errorf("acknowledge: %d", done.status)
	}
	if r := sec.post("/alerts/"+id+"/dismiss", url.Values{"reason": {"short"}}); r.status != http.StatusBadRequest {
		t.Errorf("dismiss with a short reason: %d", r.status)
	}
	reason := "Planned records audit agreed with the manager."
	done = sec.follow("/alerts/"+id+"/dismiss", url.Values{"reason": {reason}})
	if done.status != http.StatusOK || !strings.Contains(done.body, "The alert was dismissed.") {
		t.Errorf("dismiss: %d", done.status)
	}
	// The dismissal is reviewable: who, why; the one who dismissed it has
	// no reopen button, the DPO has.
	r := sec.get("/alerts?status=dismissed")
	if !strings.Contains(r.body, reason) || strings.Contains(r.body, `action="/alerts/`+id+`/reopen"`) {
		t.Errorf("dismissed list for the dismisser: %.1500s", r.body)
	}
	if r := sec.post("/alerts/"+id+"/reopen", nil); r.status != http.StatusForbidden {
		t.Errorf("reopen own dismissal: %d", r.status)
	}
	r = dpo.get("/alerts?status=dismissed")
	if !strings.Contains(r.body, `action="/alerts/`+id+`/reopen"`) {
		t.Errorf("dismissed list for the DPO has no reopen button")
	}
	done = dpo.follow("/alerts/"+id+"/reopen", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, "The alert was reopened.") {
		t.Errorf("reopen: %d", done.status)
	}
	if r := sec.post("/alerts/"+id+"/explode", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", r.status)
	}
}

// The honeytokens page: security officers create decoys and see them; the
// DPO sees them without the form.
func TestHoneytokensPage(t *testing.T) {
	e := newEnv(t)
	_, dpo := e.staffAs(t, "dpo2", confidant.RoleDPO)
	sec := e.as(e.w.Security)
	r := sec.get("/honeytokens")
	if r.status != http.StatusOK || !strings.Contains(r.body, `action="/honeytokens"`) || !strings.Contains(r.body, "No decoy patients yet.") {
		t.Fatalf("GET /honeytokens: %d", r.status)
	}
	if r := sec.post("/honeytokens", url.Values{"clinic": {"nonsense"}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown clinic: %d", r.status)
	}
	done := sec.follow("/honeytokens", url.Values{"clinic": {e.w.ClinicB.ID}})
	if done.status != http.StatusOK || !strings.Contains(done.body, "The decoy patient was created.") || !strings.Contains(done.body, e.w.ClinicB.Name) {
		t.Errorf("create: %d %.1500s", done.status, done.body)
	}
	hs, err := e.w.Service.ListHoneytokens(e.w.As(e.w.Security))
	if err != nil || len(hs) != 1 {
		t.Fatalf("honeytokens: %v, %v", hs, err)
	}
	r = dpo.get("/honeytokens")
	if r.status != http.StatusOK || strings.Contains(r.body, `action="/honeytokens"`) || !strings.Contains(r.body, hs[0].PatientID) {
		t.Errorf("DPO GET /honeytokens: %d", r.status)
	}
	if r := dpo.post("/honeytokens", url.Values{"clinic": {e.w.ClinicA.ID}}); r.status != http.StatusForbidden {
		t.Errorf("DPO creates: %d", r.status)
	}
	// The manager of clinic B sees the decoy as a patient of the clinic.
	if r := e.as(e.w.ManagerB).get("/clinics/" + e.w.ClinicB.ID + "/patients"); r.status != http.StatusOK || !strings.Contains(r.body, hs[0].FamilyName) {
		t.Errorf("clinic B's patients: %d", r.status)
	}
}
