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

// dpoClient creates a data protection officer with a second factor and
// returns a browser signed in as them.
func dpoClient(t *testing.T, e *env) *client {
	t.Helper()
	ctx := context.Background()
	svc := e.w.Service
	dpo, err := svc.OperatorCreateUser(ctx, service.StaffInput{Username: "dpo2", DisplayName: "Data Protection Officer",
		Role: confidant.RoleDPO, Password: testfix.Password})
	if err != nil {
		t.Fatal(err)
	}
	raw, secret := testfix.NewTOTPSecret()
	if err := e.w.Store.Update(ctx, func(tx confidant.Tx) error {
		return service.EnrolTOTP(ctx, tx, dpo.ID, raw, time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Login(ctx, "dpo2", testfix.Password, service.SessionWeb)
	if err != nil {
		t.Fatal(err)
	}
	if res, err = svc.LoginTOTP(ctx, res.MFAToken, testfix.Code(t, secret), service.SessionWeb, ""); err != nil {
		t.Fatal(err)
	}
	return e.withToken(res.Token)
}

// The incident pages without JavaScript: a security officer opens an
// incident by hand, the DPO sets awareness, the countdown shows in the
// layout of every page of both roles, letters reach the patient's portal
// page, the PDF downloads, and other roles are refused.
func TestIncidentPages(t *testing.T) {
	e := newEnv(t)
	sec, dpo := e.as(e.w.Security), dpoClient(t, e)
	th := e.as(e.w.Therapist)
	if r := th.get("/patients/" + e.w.PatientA.ID); r.status != http.StatusOK {
		t.Fatalf("chart: %d", r.status)
	}
	loc := time.UTC
	if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		loc = l // the app's default zone for its forms
	}
	now := time.Now().In(loc)
	form := url.Values{"title": {"Laptop left on the tram"}, "account_ids": {e.w.Therapist.ID},
		"from": {now.Add(-time.Hour).Format("2006-01-02T15:04")}, "to": {now.Add(time.Hour).Format("2006-01-02T15:04")}}
	opened := sec.post("/incidents", form)
	id := strings.TrimPrefix(opened.location(), "/incidents/")
	if opened.status != http.StatusSeeOther || !confidant.ValidID(id) {
		t.Fatalf("open: %d %q %.500s", opened.status, opened.location(), opened.body)
	}
	page := sec.get("/incidents/" + id)
	if page.status != http.StatusOK || !has(page.body, "Laptop left on the tram") || !strings.Contains(page.body, e.w.PatientA.ID) {
		t.Fatalf("incident page: %d %.500s", page.status, page.body)
	}
	// The awareness form is the DPO's; the service refuses others too.
	if strings.Contains(page.body, "/awareness") {
		t.Error("a security officer is shown the awareness form")
	}
	if r := sec.post("/incidents/"+id+"/awareness", url.Values{"at": {now.Format("2006-01-02T15:04")}}); r.status != http.StatusForbidden {
		t.Errorf("awareness by a security officer: %d", r.status)
	}
	if r := sec.get("/accounts"); !has(r.body, "the 72-hour clock has not started") {
		t.Errorf("no countdown banner before awareness: %.300s", r.body)
	}
	p := dpo.follow("/incidents/"+id+"/awareness", url.Values{"at": {now.Add(-2 * time.Hour).Format("2006-01-02T15:04")}})
	if p.status != http.StatusOK || !has(p.body, "The time of awareness was recorded") {
		t.Fatalf("awareness: %d %.300s", p.status, p.body)
	}
	for _, c := range []*client{sec, dpo} {
		r := c.get("/access-log")
		if !strings.Contains(r.body, `class="incident-banner`) || !has(r.body, "left for the NIS2 early warning") {
			t.Errorf("no countdown in the layout: %.500s", r.body)
		}
	}
	if r := th.get("/patients"); strings.Contains(r.body, "incident-banner") {
		t.Error("a therapist sees the incident banner")
	}
	dpo.follow("/incidents/"+id+"/decisions", url.Values{"text": {"Disable the account."}})
	dpo.follow("/incidents/"+id+"/notification", url.Values{"nature": {"Lost device"}, "subjects_approx": {"1"}, "records_approx": {"2"},
		"dpo_contact": {"tietosuoja@example.org"}, "measures": {"Remote wipe"}})
	if r := dpo.post("/incidents/"+id+"/notification", url.Values{"subjects_approx": {"many"}}); r.status != http.StatusBadRequest {
		t.Errorf("bad number: %d", r.status)
	}
	lp := sec.follow("/incidents/"+id+"/letters", url.Values{"phase": {"1"}})
	if !has(lp.body, "The letters were sent") {
		t.Errorf("letters: %.300s", lp.body)
	}
	list := sec.get("/incidents")
	if list.status != http.StatusOK || !has(list.body, "left") || !has(list.body, "Laptop left on the tram") {
		t.Errorf("list: %d", list.status)
	}
	pdf := sec.get("/incidents/" + id + "/regulator-notification.pdf")
	if pdf.status != http.StatusOK || !strings.HasPrefix(pdf.body, "%PDF") || strings.Contains(pdf.body, e.w.PatientA.ID) {
		t.Errorf("PDF: %d", pdf.status)
	}
	if js := dpo.get("/incidents/" + id + "/regulator-notification.json"); js.status != http.StatusOK || strings.Contains(js.body, e.w.PatientA.ID) {
		t.Errorf("JSON: %d", js.status)
	}
	// The patient's letters page, in three languages.
	pat := e.as(e.w.PatientUser)
	lt := pat.get("/record/letters")
	for _, s := range []string{"Mitä tapahtui", "Vad hände", "What happened"} {
		if !has(lt.body, s) {
			t.Errorf("letters page without %q", s)
		}
	}
	// Others are refused.
	for _, c := range []*client{th, e.as(e.w.Manager), pat} {
		if r := c.get("/incidents/" + id); r.status != http.StatusForbidden {
			t.Errorf("incident page for another role: %d", r.status)
		}
		if r := c.get("/incidents"); r.status != http.StatusForbidden {
			t.Errorf("incident list for another role: %d", r.status)
		}
	}
	if r := sec.get("/record/letters"); r.status != http.StatusForbidden {
		t.Errorf("letters page for a security officer: %d", r.status)
	}
	// Closing is the DPO's.
	if r := sec.post("/incidents/"+id+"/close", url.Values{"conclusion": {"done"}}); r.status != http.StatusForbidden {
		t.Errorf("close by a security officer: %d", r.status)
	}
	cl := dpo.follow("/incidents/"+id+"/close", url.Values{"conclusion": {"Contained; the authority was notified."}})
	if !has(cl.body, "The incident was closed") {
		t.Errorf("close: %.300s", cl.body)
	}
	if r := sec.get("/accounts"); strings.Contains(r.body, "incident-banner") {
		t.Error("a banner for a closed incident")
	}
}

// An open incident changed in the database (its sealed row edited, as a
// database writer could to hide it): the banner does not vanish, it says
// the open incidents cannot be read.
func TestIncidentBannerUnreadable(t *testing.T) {
	db := testfix.SQLiteBackend(t)
	e := newEnvOn(t, testfix.Seal(t, db, testfix.Keyring(t)))
	sec := e.as(e.w.Security)
	now := time.Now().UTC()
	inc, err := e.w.Service.OpenIncident(e.w.As(e.w.Security), service.IncidentInput{Title: "Laptop left on the tram",
		Scope: service.ScopeInput{AccountIDs: []string{e.w.Therapist.ID}, From: now.Add(-time.Hour), To: now}})
	if err != nil {
		t.Fatal(err)
	}
	if r := sec.get("/accounts"); !strings.Contains(r.body, "Laptop left on the tram") || strings.Contains(r.body, "cannot be read") {
		t.Fatalf("no countdown banner before the change: %d", r.status)
	}
	ctx := context.Background()
	if err := db.Update(ctx, func(stx confidant.SealedTx) error {
		r, err := stx.Incident(ctx, inc.ID)
		if err != nil {
			return err
		}
		r.Data = append([]byte(nil), r.Data...)
		r.Data[len(r.Data)-1] ^= 1
		return stx.UpdateIncident(ctx, r, r.HistorySeq)
	}); err != nil {
		t.Fatal(err)
	}
	r := sec.get("/accounts")
	if r.status != http.StatusOK || !strings.Contains(r.body, "the open incidents cannot be read") || strings.Contains(r.body, "Laptop left on the tram") {
		t.Errorf("after the change: %d, banner missing or the title shown: %.400s", r.status, r.body)
	}
	if th := e.as(e.w.Therapist).get("/patients"); strings.Contains(th.body, "incident-banner") {
		t.Error("a therapist sees the incident banner")
	}
}
