package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// findChrome returns the browser for the browser tests: $CONFIDANT_CHROME,
// /usr/bin/chromium, or chromium / google-chrome on PATH. Without one the
// tests are skipped loudly, or fail when CONFIDANT_REQUIRE_BROWSER=1 (CI).
func findChrome(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CONFIDANT_CHROME"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CONFIDANT_CHROME=%s: %v", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "google-chrome", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "SKIPPING browser tests: no chromium found; install it (apt-get install -y chromium) or set CONFIDANT_CHROME; mandatory in CI"
	if os.Getenv("CONFIDANT_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	fmt.Fprintln(os.Stderr, "\n!!!!!!!! "+msg+" !!!!!!!!")
	t.Skip(msg)
	return ""
}

// browserWatch collects what a tab reports: console messages, log entries,
// exceptions and CSP violations. It also accepts every confirm() dialog and
// remembers its question.
type browserWatch struct {
	mu         sync.Mutex
	violations []string // CSP
	errors     []string // exceptions
	console    []string // everything else, for the test log
	dialogs    []string
}

func (w *browserWatch) add(list *[]string, s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	*list = append(*list, s)
}

func (w *browserWatch) snapshot() (violations, errs, console, dialogs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.violations...), append([]string(nil), w.errors...),
		append([]string(nil), w.console...), append([]string(nil), w.dialogs...)
}

func isCSP(s string) bool {
	return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "CSP violation")
}

// watch starts watching the tab of ctx. The page script reports
// securitypolicyviolation events too, so that a violation is seen even if
// the browser's own console message changes wording.
func watch(t *testing.T, ctx context.Context) *browserWatch {
	t.Helper()
	w := &browserWatch{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			s := fmt.Sprintf("log %s/%s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text)
			if isCSP(ev.Entry.Text) {
				w.add(&w.violations, s)
			} else {
				w.add(&w.console, s)
			}
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			s := fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			if isCSP(s) {
				w.add(&w.violations, s)
			} else {
				w.add(&w.console, s)
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			s := d.Text
			if d.Exception != nil {
				s += " " + d.Exception.Description
			}
			w.add(&w.errors, s)
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			w.add(&w.dialogs, ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `document.addEventListener("securitypolicyviolation", function (e) {
			console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
		});`,
	})
	if err != nil {
		t.Fatalf("add CSP reporter: %v", err)
	}
	return w
}

// step runs browser actions with a deadline of their own.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second) // generous: the machine is shared
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		shot, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage text: %.2000s", what, err, shot)
	}
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second) // generous: the machine is shared
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// signIn signs in with the password and, for an account with a TOTP secret
// (base32), the code on the second page.
func signIn(t *testing.T, ctx context.Context, base, username, secret, waitFor string) {
	t.Helper()
	password := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), testfix.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	}
	if secret == "" {
		step(t, ctx, "sign in as "+username, append(password, chromedp.WaitVisible(chromedp.CSS(waitFor)))...)
		return
	}
	step(t, ctx, "sign in as "+username, append(password, chromedp.WaitVisible(chromedp.ID("code")))...)
	step(t, ctx, "second factor of "+username,
		chromedp.SendKeys(chromedp.ID("code"), testfix.Code(t, secret)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(waitFor)),
	)
}

// startBrowser starts a headless chromium (chrome) for a test, with a
// window width x 900, ended after timeout or with the test.
func startBrowser(t *testing.T, chrome string, timeout time.Duration, width int) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(width, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start %s: %v", chrome, err)
	}
	return ctx
}

func TestBrowser(t *testing.T) {
	chrome := findChrome(t)
	e := newEnv(t)
	seedChart(t, e)
	pa := e.w.PatientA

	ctx := startBrowser(t, chrome, 6*time.Minute, 1360)
	therapist := watch(t, ctx)
	base := e.srv.URL

	// (1) The therapist's day: My patients, the chart, a SOAP note drafted,
	// signed and amended, both versions visible.
	signIn(t, ctx, base, "therapist", e.w.TOTPSecret(e.w.Therapist), `a[href="/patients/`+pa.ID+`"]`)
	step(t, ctx, "open the chart",
		chromedp.Click(chromedp.CSS(`a[href="/patients/`+pa.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("notes")),
		chromedp.Click(chromedp.CSS(`.patient-actions a[href="/patients/`+pa.ID+`/notes/new"]`)),
		chromedp.WaitVisible(chromedp.ID("template-pick")),
		chromedp.WaitNotVisible(chromedp.ID("template-apply")), // app.js ran: the apply button is only for no-JS
	)
	// Choosing SOAP fills in its headings at once (app.js).
	step(t, ctx, "choose SOAP",
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("template-pick"); s.value = "soap"; s.dispatchEvent(new Event("change")); })()`),
	)
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("note-body"))); err != nil || !strings.HasPrefix(v, "Subjective:") {
		t.Fatalf("SOAP skeleton not filled by app.js: %q %v", v, err)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("note-template"))); v != "soap" {
		t.Fatalf("template field = %q, want soap", v)
	}
	soap := "Subjective:\nSleeps six hours most nights now. Worry about the exam week is \"manageable\".\n\n" +
		"Objective:\nCalm, good eye contact, laughed twice. PHQ-9 today 9.\n\n" +
		"Assessment:\nMood improving; sleep restriction working. No risk indicators.\n\n" +
		"Plan:\nContinue weekly CBT. Worry postponement practice daily."
	step(t, ctx, "write and save the draft",
		chromedp.SetValue(chromedp.ID("note-body"), soap),
		chromedp.Click(chromedp.CSS(`form.note-form button.button-primary`)),
		chromedp.WaitVisible(chromedp.ID("draft-body")),
	)
	noteURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(noteURL, "/notes/") {
		t.Fatalf("after saving the draft the browser is at %q (%v)", noteURL, err)
	}
	step(t, ctx, "sign the note",
		chromedp.Click(chromedp.ID("sign-button")),
		chromedp.WaitVisible(chromedp.ID("amend")),
	)
	if s := textOf(t, ctx, "main"); !strings.Contains(s, "The note was signed and is now locked.") {
		t.Fatalf("after signing: %.1500s", s)
	}
	amended := strings.Replace(soap, "Worry postponement practice daily.", "Worry postponement practice daily. Review PHQ-9 and GAD-7 in four weeks.", 1)
	step(t, ctx, "amend the note",
		chromedp.Click(chromedp.CSS(`#amend > summary`)),
		chromedp.WaitVisible(chromedp.ID("amend-body")),
		chromedp.SetValue(chromedp.ID("amend-body"), amended),
		chromedp.SendKeys(chromedp.ID("amend-reason"), "Added the review of measures"),
		chromedp.Click(chromedp.CSS(`#amend button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.versions`)),
	)
	noteText := textOf(t, ctx, "main")
	for _, want := range []string{"Version 1 · original", "Version 2 · amendment", "Added the review of measures", "Review PHQ-9 and GAD-7 in four weeks.", "Written by therapist"} {
		if !strings.Contains(noteText, want) {
			t.Errorf("note page lacks %q", want)
		}
	}
	if strings.Count(noteText, "Sleeps six hours most nights now.") < 2 {
		t.Errorf("the original version is not shown next to the amendment")
	}
	saveScreenshot(t, ctx, "note.png")
	_, _, _, dialogs := therapist.snapshot()
	if len(dialogs) < 2 || !strings.HasPrefix(dialogs[0], "Sign this note?") {
		t.Errorf("confirm dialogs = %q, want the signing and amendment questions", dialogs)
	}

	step(t, ctx, "back to the chart",
		chromedp.Click(chromedp.CSS(`.crumbs a[href="/patients/`+pa.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("measures")),
		chromedp.WaitVisible(chromedp.CSS(`svg.sparkline`)),
	)
	chart := textOf(t, ctx, "main")
	for _, want := range []string{"Aino Äijälä", "F32.1", "Private process notes", "Review PHQ-9 and GAD-7"} {
		if !strings.Contains(chart, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	saveScreenshot(t, ctx, "chart.png")

	// (2) A manager, in a browser context of their own, types the note's
	// URL: refused, and not a word of the note.
	mctx, mcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer mcancel()
	if err := chromedp.Do(mctx); err != nil {
		t.Fatal(err)
	}
	manager := watch(t, mctx)
	signIn(t, mctx, base, "manager", e.w.TOTPSecret(e.w.Manager), `a[href="/clinics/`+e.w.ClinicA.ID+`"]`)
	step(t, mctx, "manager opens the note URL",
		chromedp.Navigate(noteURL),
		chromedp.WaitVisible(chromedp.CSS(`.alert`)),
	)
	body := textOf(t, mctx, "body")
	if !strings.Contains(body, "Not allowed") || !strings.Contains(body, "You are not allowed to do this.") {
		t.Errorf("manager on a note URL: %.1500s", body)
	}
	for _, leak := range []string{"Sleeps six hours", "Worry", "Subjective", "PHQ-9", "Aino"} {
		if strings.Contains(body, leak) {
			t.Errorf("manager's refusal page shows %q", leak)
		}
	}
	html, _ := chromedp.Run(mctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "Sleeps six hours") {
		t.Errorf("note text in the manager's page source")
	}

	// (2b) The patient sees who opened their chart, with a proof per entry;
	// the security officer finds the same access by the patient's id.
	pctx, pcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer pcancel()
	if err := chromedp.Do(pctx); err != nil {
		t.Fatal(err)
	}
	patient := watch(t, pctx)
	if _, err := e.w.Service.Chart(e.w.As(e.w.OtherTherapist), pa.ID); !confidant.IsKind(err, confidant.KindPermission) && !confidant.IsKind(err, confidant.KindNotFound) {
		t.Fatalf("a therapist without care opened the chart: %v", err)
	}
	signIn(t, pctx, base, "aino", "", `a[href="/record/access"]`)
	step(t, pctx, "patient opens the access history",
		chromedp.Click(chromedp.CSS(`.mainnav a[href="/record/access"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.access-list`)),
	)
	access := textOf(t, pctx, "main")
	for _, want := range []string{"Opened your chart", "therapist · Therapist", "Signed a session note", "Download proof", "How to check a proof", "Refused", "other · Therapist"} {
		if !strings.Contains(access, want) {
			t.Errorf("the patient's access history lacks %q", want)
		}
	}
	saveScreenshot(t, pctx, "access-history.png")

	sctx, scancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer scancel()
	if err := chromedp.Do(sctx); err != nil {
		t.Fatal(err)
	}
	officer := watch(t, sctx)
	signIn(t, sctx, base, "security", e.w.TOTPSecret(e.w.Security), `a[href="/access-log"]`)
	step(t, sctx, "security officer searches the access log by patient",
		chromedp.Click(chromedp.CSS(`.mainnav a[href="/access-log"]`)),
		chromedp.WaitVisible(chromedp.ID("patient")),
		chromedp.SendKeys(chromedp.ID("patient"), pa.ID),
		chromedp.SetValue(chromedp.ID("action"), "chart.read"),
		chromedp.Click(chromedp.CSS(`form.audit-form button[type="submit"]`)),
		// The answer's form carries the patient as its value attribute (the
		// page before it has an access table too: wait for the answer).
		chromedp.WaitVisible(chromedp.CSS(`input#patient[value="`+pa.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.access-table`)),
	)
	found := textOf(t, sctx, "main")
	if !strings.Contains(found, "Opened a chart") || !strings.Contains(found, e.w.Therapist.ID) || strings.Contains(found, "Sleeps six hours") {
		t.Errorf("the security officer's search: %.1500s", found)
	}
	saveScreenshot(t, sctx, "access-log.png")

	// (2c) A new staff account accepts its invitation (the code arrives in
	// the link's fragment), sets its password and at once its
	// authenticator app: the key and its QR code, then the first code.
	newcomer, err := e.w.Service.OperatorInviteUser(context.Background(), service.StaffInput{
		Username: "newcomer", DisplayName: "New Comer", Role: confidant.RoleSecurity,
	})
	if err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer ncancel()
	if err := chromedp.Do(nctx); err != nil {
		t.Fatal(err)
	}
	enrolling := watch(t, nctx)
	step(t, nctx, "newcomer accepts the invitation",
		chromedp.Navigate(base+"/invite#"+newcomer.Code),
		chromedp.WaitVisible(chromedp.ID("password2")),
		chromedp.SendKeys(chromedp.ID("password"), testfix.Password),
		chromedp.SendKeys(chromedp.ID("password2"), testfix.Password),
		chromedp.Click(chromedp.CSS(`form[action="/invite"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp/enrol"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp/enrol"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.totp-qr`)),
	)
	key := strings.ReplaceAll(textOf(t, nctx, ".totp-secret"), " ", "")
	if len(key) != 32 || !strings.HasPrefix(textOf(t, nctx, ".totp-uri"), "otpauth://totp/") {
		t.Fatalf("enrolment page: key of %d characters", len(key))
	}
	saveScreenshot(t, nctx, "totp-enrol.png")
	step(t, nctx, "newcomer confirms with the first code",
		chromedp.SendKeys(chromedp.ID("code"), testfix.Code(t, key)),
		chromedp.Click(chromedp.CSS(`form[action="/login/totp"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-recovery-codes")), // shown once
		chromedp.Click(chromedp.CSS(`main a.button-primary`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/access-log"]`)),
	)

	// (2d) An invited therapist opens the invitation's link: the page's
	// script moves the code from the fragment into the form (and out of the
	// address bar), and the invitee sets their own password.
	invited, err := e.w.Service.CreateStaff(e.w.As(e.w.Manager), service.StaffInput{
		Username: "invitee", DisplayName: "In Vitee", Role: confidant.RoleTherapist,
		ClinicIDs: []string{e.w.ClinicA.ID}, Email: "invitee@clinic.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	ictx, icancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer icancel()
	if err := chromedp.Do(ictx); err != nil {
		t.Fatal(err)
	}
	invitee := watch(t, ictx)
	code := e.w.Mail.InvitationCode(t, "invitee@clinic.example")
	step(t, ictx, "the invitee opens the link",
		chromedp.Navigate(base+"/invite#"+code),
		chromedp.WaitVisible(chromedp.ID("invite-code")),
	)
	filled, _ := chromedp.Run(ictx, chromedp.Value(chromedp.ID("invite-code")))
	location, _ := chromedp.Run(ictx, chromedp.Location())
	if filled != code || strings.Contains(location, code) {
		t.Errorf("the code was not moved into the form: filled %t, still in the address %t", filled == code, strings.Contains(location, code))
	}
	step(t, ictx, "the invitee sets a password",
		chromedp.SendKeys(chromedp.ID("password"), "the invitee's own password"),
		chromedp.SendKeys(chromedp.ID("password2"), "the invitee's own password"),
		chromedp.Click(chromedp.CSS(`form[action="/invite"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp/enrol"]`)),
	)
	if got := textOf(t, ictx, "main"); !strings.Contains(got, "Set up your second factor") {
		t.Errorf("after accepting: %.500s", got)
	}
	// The password is the invitee's (it is right), and alone it opens no
	// enrolment.
	if _, err := e.w.Service.Login(context.Background(), invited.User.Username, "the invitee's own password", service.SessionWeb); confidant.CodeOf(err) != "second_factor_not_set_up" {
		t.Errorf("the invitee's password alone: %v", err)
	}

	// (3) No CSP violations anywhere, and no script errors.
	for name, w := range map[string]*browserWatch{"therapist": therapist, "manager": manager, "patient": patient, "security officer": officer, "enrolling officer": enrolling, "invitee": invitee} {
		violations, errs, console, _ := w.snapshot()
		for _, v := range violations {
			t.Errorf("%s tab: CSP violation: %s", name, v)
		}
		for _, e := range errs {
			t.Errorf("%s tab: script error: %s", name, e)
		}
		for _, c := range console {
			t.Logf("%s tab console: %s", name, c)
		}
	}
	// The watch itself works: a deliberate inline style is reported.
	step(t, ctx, "provoke a CSP violation",
		chromedp.Evaluate[chromedp.Void](`document.body.setAttribute("style", "color: red")`),
	)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _, _, _ := therapist.snapshot(); len(v) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deliberate CSP violation was not reported: the console watch does not work")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveScreenshot takes a full-page PNG of the tab, checks it and writes it
// into the test's temporary directory, and into docs/screenshots when
// CONFIDANT_SCREENSHOTS=1.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	// A tab of another browser context may be in the background, where
	// headless Chromium can stall a capture: bring it to the front first.
	if _, err := chromedp.Call(sctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Logf("bring %s to front: %v", name, err)
	}
	shot, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		// The page's behaviour is asserted elsewhere; a stalled capture on a
		// loaded machine must not fail the test, unless screenshots for the
		// docs were asked for.
		if os.Getenv("CONFIDANT_SCREENSHOTS") == "1" {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		t.Logf("SCREENSHOT %s NOT TAKEN: %v", name, err)
		return
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) || len(shot) < 10_000 {
		t.Fatalf("screenshot %s is not a PNG of substance (%d bytes)", name, len(shot))
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CONFIDANT_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(dir, name))
	}
}

// seedChart gives PatientA a lived-in chart: diagnoses, a plan, measures
// over three months, an older released note, a process note and a file.
func seedChart(t *testing.T, e *env) {
	t.Helper()
	ctx := e.w.As(e.w.Therapist)
	svc := e.w.Service
	id := e.w.PatientA.ID
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := svc.AddDiagnosis(ctx, id, "F32.1", "First episode; onset after a change of job.")
	must(err)
	_, err = svc.AddDiagnosis(ctx, id, "F51.0", "")
	must(err)
	_, err = svc.SavePlan(ctx, id, service.PlanInput{
		Goals:         "Sleep at least six hours on most nights.\nReturn to work part-time.",
		Interventions: "CBT for depression, weekly. Sleep restriction and stimulus control.",
		ReviewOn:      time.Now().AddDate(0, 2, 0),
	})
	must(err)
	now := time.Now()
	answers := func(n, score int) []int {
		a := make([]int, n)
		for i := 0; score > 0; i = (i + 1) % n {
			if a[i] < 3 {
				a[i]++
				score--
			}
		}
		return a
	}
	for i, s := range []int{17, 14, 12, 9} {
		_, err = svc.RecordMeasure(ctx, id, confidant.PHQ9, answers(9, s), now.AddDate(0, 0, -7*(9-3*i)))
		must(err)
	}
	for i, s := range []int{13, 11, 8} {
		_, err = svc.RecordMeasure(ctx, id, confidant.GAD7, answers(7, s), now.AddDate(0, 0, -7*(8-3*i)))
		must(err)
	}
	n, err := svc.CreateNote(ctx, id, service.NoteInput{
		Template:  confidant.TemplateDAP,
		Body:      "Data:\nFirst session. Low mood for three months, early waking.\n\nAssessment:\nModerate depressive episode.\n\nPlan:\nWeekly sessions; sleep diary.",
		SessionAt: now.AddDate(0, 0, -63),
	})
	must(err)
	_, err = svc.SignNote(ctx, n.ID)
	must(err)
	_, err = svc.ReleaseNote(ctx, n.ID)
	must(err)
	_, err = svc.CreateProcessNote(ctx, id, "I notice I rush to reassure her when she talks about her father. Take it to supervision.")
	must(err)
	_, err = svc.UploadAttachment(ctx, id, "referral-letter.pdf", strings.NewReader("%PDF-1.4\n% test\n"))
	must(err)
}
