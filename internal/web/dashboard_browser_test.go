package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// TestBrowserDashboard: the data protection officer's dashboard in a real
// browser: the incident countdown in the banner, three charts drawn (SVG
// with bars), the numbers in tables, no CSP violation; a screenshot for the
// docs.
func TestBrowserDashboard(t *testing.T) {
	chrome := findChrome(t)
	e := newEnv(t)
	svc := e.w.Service
	// Activity: the therapist opens a chart a few times; an alert of the
	// detector and an incident opened from it.
	for range 3 {
		if _, err := svc.Chart(e.w.As(e.w.Therapist), e.w.PatientA.ID); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	raised, err := svc.RaiseAlertsNow(context.Background(), []confidant.Alert{
		{Rule: "volume_hour", Severity: confidant.AlertHigh, ActorID: e.w.OtherTherapist.ID, ClinicID: e.w.ClinicA.ID,
			PatientIDs: []string{e.w.PatientA.ID}, Explanation: "Opened 41 patients' records in one hour (threshold 40).",
			From: now.Add(-time.Hour), To: now, Key: "browser-1"},
		{Rule: "after_hours", Severity: confidant.AlertMedium, ActorID: e.w.Therapist.ID, ClinicID: e.w.ClinicA.ID,
			PatientIDs: []string{e.w.PatientA.ID}, Explanation: "Read records outside the clinic's opening hours.",
			From: now.Add(-time.Hour), To: now, Key: "browser-2"},
	})
	if err != nil || len(raised) != 2 {
		t.Fatalf("raise: %v", err)
	}
	if _, err := svc.OpenIncident(e.w.As(e.w.Security), service.IncidentInput{Title: "Stolen therapist account", AlertIDs: []string{raised[0].ID}}); err != nil {
		t.Fatal(err)
	}

	ctx := startBrowser(t, chrome, 3*time.Minute, 1360)
	dpo := watch(t, ctx)
	signIn(t, ctx, e.srv.URL, "dpo", e.w.TOTPSecret(e.w.DPO), `a[href="/dashboard"]`)
	step(t, ctx, "open the dashboard",
		chromedp.Click(chromedp.CSS(`.mainnav a[href="/dashboard"]`)),
		chromedp.WaitVisible(chromedp.CSS(`figure.chart-figure svg`)),
	)
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart-figure svg").length`))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart-figure svg rect title").length`))
	if err != nil {
		t.Fatal(err)
	}
	if charts != 3 || bars < 4 { // two alert rules, a clinic's hour, an account
		t.Errorf("%d charts with %d bars, want 3 charts with bars", charts, bars)
	}
	page := textOf(t, ctx, "main")
	for _, want := range []string{"Stolen therapist account", "awareness is not set", "volume_hour", "after_hours", "therapist"} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	if banner := textOf(t, ctx, ".incident-banner"); !strings.Contains(banner, "Stolen therapist account") {
		t.Errorf("incident banner %q", banner)
	}
	saveScreenshot(t, ctx, "dashboard.png")
	violations, errs, _, _ := dpo.snapshot()
	for _, v := range violations {
		t.Errorf("CSP violation: %s", v)
	}
	for _, e := range errs {
		t.Errorf("script error: %s", e)
	}
}
