package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The dashboard: security officers and the DPO see accesses per clinic and
// the accounts with the most patients, as SVG charts with the numbers in
// tables; nobody else sees it.
func TestDashboard(t *testing.T) {
	e := newEnv(t)
	// An alert of the detector, and an incident opened from it.
	raised, err := e.w.Service.RaiseAlertsNow(context.Background(), []confidant.Alert{{
		Rule: "volume_hour", Severity: confidant.AlertHigh, ActorID: e.w.OtherTherapist.ID, ClinicID: e.w.ClinicA.ID,
		PatientIDs: []string{e.w.PatientA.ID}, Explanation: "Opened 41 patients' records in an hour (threshold 40).",
		From: time.Now().Add(-time.Hour).UTC(), To: time.Now().UTC(), Key: "dashboard-test",
	}})
	if err != nil || len(raised) != 1 {
		t.Fatalf("raise: %v %v", raised, err)
	}
	if _, err := e.w.Service.OpenIncident(e.w.As(e.w.Security), service.IncidentInput{Title: "Stolen laptop", AlertIDs: []string{raised[0].ID}}); err != nil {
		t.Fatal(err)
	}
	th := e.as(e.w.Therapist)
	if r := th.get("/patients/" + e.w.PatientA.ID); r.status != http.StatusOK {
		t.Fatalf("chart: %d", r.status)
	}
	for _, u := range []confidant.User{e.w.Security, e.w.DPO} {
		r := e.as(u).get("/dashboard")
		if r.status != http.StatusOK {
			t.Fatalf("%s: dashboard %d", u.Username, r.status)
		}
		if strings.Count(r.body, "<svg") != 3 {
			t.Errorf("%s: %d SVG charts, want 3", u.Username, strings.Count(r.body, "<svg"))
		}
		for _, svg := range strings.Split(r.body, "<svg")[1:] {
			if svg, _, _ = strings.Cut(svg, "</svg>"); strings.Contains(svg, "<script") || strings.Contains(svg, "style=") {
				t.Errorf("%s: a chart has script or style", u.Username)
			}
		}
		body := text(r.body)
		// The therapist's account is ranked, and clinic A has accesses.
		if !strings.Contains(r.body, `<td class="mono">therapist</td>`) || !strings.Contains(body, e.w.ClinicA.Name) {
			t.Errorf("%s: the therapist or clinic A missing:\n%s", u.Username, body)
		}
		// The alert counted under its rule, the incident with its clock.
		if !strings.Contains(r.body, `<th scope="row" class="mono">volume_hour</th>`) || !strings.Contains(body, "Stolen laptop") ||
			!strings.Contains(body, "awareness is not set") {
			t.Errorf("%s: the alert's rule or the incident's clock missing:\n%s", u.Username, body)
		}
		if strings.Contains(r.body, e.w.PatientA.ID) || strings.Contains(r.body, "Äijälä") {
			t.Errorf("%s: a patient appears on the dashboard", u.Username)
		}
	}
	for _, u := range []confidant.User{e.w.Therapist, e.w.Manager} {
		if r := e.as(u).get("/dashboard"); r.status != http.StatusForbidden {
			t.Errorf("%s: dashboard %d, want 403", u.Username, r.status)
		}
	}
}
