package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestBrowserBreakGlass: a therapist of the clinic finds a patient outside
// their care by identity code, takes emergency access with a category, a
// reason and their authenticator's code, and the chart opens with the
// banner saying until when; the security officer finds it in the review
// queue and reviews it; the patient sees it with the reason.
func TestBrowserBreakGlass(t *testing.T) {
	chrome := findChrome(t)
	e := newEnv(t)
	pa := e.w.PatientA
	reason := "Crisis call at night, the treating therapist is on leave."

	ctx := startBrowser(t, chrome, 6*time.Minute, 1360)
	therapist := watch(t, ctx)
	base := e.srv.URL

	// (1) The therapist without care: the chart is not theirs; found by
	// identity code, with an Emergency access link.
	secret := e.w.TOTPSecret(e.w.OtherTherapist)
	signIn(t, ctx, base, "other", secret, `#identity_code`)
	step(t, ctx, "find the patient by identity code",
		chromedp.SendKeys(chromedp.ID("identity_code"), pa.IdentityCode),
		chromedp.Click(chromedp.CSS(`form[action="/patients/emergency-search"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/patients/`+pa.ID+`/emergency"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/patients/`+pa.ID+`/emergency"]`)),
		chromedp.WaitVisible(chromedp.ID("emergency-form")),
	)
	if form := textOf(t, ctx, "main"); strings.Contains(form, pa.FamilyName) {
		t.Errorf("the emergency form shows the patient before access: %.500s", form)
	}
	step(t, ctx, "take emergency access",
		chromedp.SetValue(chromedp.ID("category"), "risk_to_life"),
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.SendKeys(chromedp.ID("code"), testfix.Code(t, secret)),
		chromedp.Click(chromedp.CSS(`#emergency-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("emergency-banner")),
	)
	taken := time.Now()
	banner := textOf(t, ctx, "#emergency-banner")
	zone := "UTC"
	loc := time.UTC
	if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		zone, loc = "Europe/Helsinki", l
	}
	until := func(d time.Duration) string {
		return "Emergency access until " + taken.Add(d).In(loc).Format("15:04") + " (" + zone + ")"
	}
	if !strings.Contains(banner, until(4*time.Hour)) && !strings.Contains(banner, until(4*time.Hour-time.Minute)) {
		t.Errorf("banner %q, want %q", banner, until(4*time.Hour))
	}
	if chart := textOf(t, ctx, "main"); !strings.Contains(chart, "Aino Äijälä") || !strings.Contains(chart, "Emergency access was granted") {
		t.Errorf("chart under emergency access: %.800s", chart)
	}

	// (2) The security officer's queue, and the review.
	sctx, scancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer scancel()
	if err := chromedp.Do(sctx); err != nil {
		t.Fatal(err)
	}
	officer := watch(t, sctx)
	signIn(t, sctx, base, "security", e.w.TOTPSecret(e.w.Security), `a[href="/emergency-access"]`)
	step(t, sctx, "open the review queue",
		chromedp.Click(chromedp.CSS(`.mainnav a[href="/emergency-access"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.emergency-grant form`)),
	)
	queue := textOf(t, sctx, "main")
	for _, want := range []string{reason, "Risk to life or safety", "other", "Klinikka Helsinki", pa.ID} {
		if !strings.Contains(queue, want) {
			t.Errorf("the queue lacks %q: %.1000s", want, queue)
		}
	}
	step(t, sctx, "review: not justified, with a comment",
		chromedp.Click(chromedp.CSS(`.emergency-grant input[name="outcome"][value="not_justified"]`)),
		chromedp.SendKeys(chromedp.CSS(`.emergency-grant textarea[name="comment"]`), "No crisis call was logged that night."),
		chromedp.Click(chromedp.CSS(`.emergency-grant form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.empty`)),
		chromedp.Navigate(base+"/emergency-access?status=reviewed"),
		chromedp.WaitVisible(chromedp.CSS(`.emergency-review`)),
	)
	if got := textOf(t, sctx, ".emergency-review"); !strings.Contains(got, "Not justified") || !strings.Contains(got, "No crisis call was logged that night.") {
		t.Errorf("reviewed grant: %q", got)
	}

	// (3) The patient sees the emergency access with its reason.
	pctx, pcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer pcancel()
	if err := chromedp.Do(pctx); err != nil {
		t.Fatal(err)
	}
	patient := watch(t, pctx)
	signIn(t, pctx, base, "aino", "", `a[href="/record/access"]`)
	step(t, pctx, "the patient opens the access history",
		chromedp.Click(chromedp.CSS(`.mainnav a[href="/record/access"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.access-list`)),
	)
	history := textOf(t, pctx, "main")
	for _, want := range []string{"Took emergency access to your records", reason, "Reviewed an emergency access", "Emergency access: this person is not in your care team"} {
		if !strings.Contains(history, want) {
			t.Errorf("the patient's history lacks %q", want)
		}
	}

	for name, w := range map[string]*browserWatch{"therapist": therapist, "security officer": officer, "patient": patient} {
		violations, errs, _, _ := w.snapshot()
		for _, v := range violations {
			t.Errorf("%s tab: CSP violation: %s", name, v)
		}
		for _, e := range errs {
			t.Errorf("%s tab: script error: %s", name, e)
		}
	}
}
