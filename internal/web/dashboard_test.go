package web_test

import (
	"net/http"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// The dashboard: security officers and the DPO see accesses per clinic and
// the accounts with the most patients, as SVG charts with the numbers in
// tables; nobody else sees it.
func TestDashboard(t *testing.T) {
	e := newEnv(t)
	th := e.as(e.w.Therapist)
	if r := th.get("/patients/" + e.w.PatientA.ID); r.status != http.StatusOK {
		t.Fatalf("chart: %d", r.status)
	}
	for _, u := range []confidant.User{e.w.Security, e.w.DPO} {
		r := e.as(u).get("/dashboard")
		if r.status != http.StatusOK {
			t.Fatalf("%s: dashboard %d", u.Username, r.status)
		}
		if strings.Count(r.body, "<svg") != 2 {
			t.Errorf("%s: %d SVG charts, want 2", u.Username, strings.Count(r.body, "<svg"))
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
