package service_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/mail/mailtest"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// stack is the product's storage over a directory that outlives it, so
// that a test can close it (a crash) and open it again.
type stack struct {
	dir   string
	st    *seal.Store
	log   *audit.Log
	close func()
}

func openStack(t *testing.T, dir string) *stack {
	t.Helper()
	ctx := context.Background()
	kek := filepath.Join(dir, "kek.json")
	if _, err := keys.Open(keys.Config{File: kek}); err != nil {
		if err := keys.CreateFile(kek, nil); err != nil {
			t.Fatal(err)
		}
	}
	k, err := keys.Open(keys.Config{File: kek})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "confidant.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := seal.Prepare(ctx, db, k); err != nil {
		t.Fatal(err)
	}
	lg, err := audit.Open(ctx, db, k, audit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	k.OnUnwrap(lg.KeyUse)
	st := seal.New(lg, k)
	st.OnForgedFact(service.ForgedFactReporter(lg))
	var once sync.Once
	s := &stack{dir: dir, st: st, log: lg, close: func() {
		once.Do(func() { lg.Close(); db.Close(); k.Close() })
	}}
	t.Cleanup(s.close)
	return s
}

// deliveryWorld: the fixture world over a stack, with a second security
// officer and a DPO who have addresses and second factors, and services
// whose clock the test moves.
type deliveryWorld struct {
	*testfix.World
	stk       *stack
	officer   confidant.User // security, officer@clinic.example
	dpo       confidant.User // dpo, dpo@clinic.example
	dpoSecret string
	mu        sync.Mutex
	offset    time.Duration // the service's clock is the time plus offset
	smtp      *mailtest.Server
}

func newDeliveryWorld(t *testing.T) *deliveryWorld {
	t.Helper()
	stk := openStack(t, t.TempDir())
	w := &deliveryWorld{World: testfix.New(t, stk.st), stk: stk}
	mk := func(username string, role confidant.Role, email string) confidant.User {
		u, err := w.Service.OperatorCreateUser(t.Context(), service.StaffInput{
			Username: username, DisplayName: username, Role: role, Password: testfix.Password, Email: email,
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	w.officer = mk("officer", confidant.RoleSecurity, "officer@clinic.example")
	w.dpo = mk("dpo2", confidant.RoleDPO, "dpo@clinic.example")
	raw, secret := testfix.NewTOTPSecret()
	if err := stk.st.Update(t.Context(), func(tx confidant.Tx) error {
		return service.EnrolTOTP(t.Context(), tx, w.dpo.ID, raw, time.Now().UTC().Truncate(time.Microsecond))
	}); err != nil {
		t.Fatal(err)
	}
	w.dpoSecret = secret
	w.smtp = mailtest.Start(t, "confidant", "relay-password")
	return w
}

// clock follows the time (second-factor codes are of the time) moved on
// by advance; assertions compare with clock(), never with the time.
func (w *deliveryWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Add(w.offset)
}

func (w *deliveryWorld) advance(d time.Duration) { w.mu.Lock(); w.offset += d; w.mu.Unlock() }

// service returns a service over the world's store (or st) that mails
// through the test's SMTP server.
func (w *deliveryWorld) service(t *testing.T, st *stack, opts ...service.Option) *service.Service {
	t.Helper()
	sc, err := mail.ParseURL("smtp://confidant@" + w.smtp.Addr + "?from=confidant@clinic.example&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	sc.Password = "relay-password"
	sender, err := mail.NewSMTP(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.DefaultConfig()
	cfg.PublicURL = "https://confidant.clinic.example"
	opts = append([]service.Option{service.WithMailer(sender), service.WithAuditor(st.log), service.WithAuditReader(st.log), service.WithLocalWebhooks(),
		service.WithClock(w.clock), service.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	svc, err := service.New(st.st, testfix.FastHasher{}, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// addRecipient proposes (by the security officer) and approves (by the
// DPO) a recipient and returns it.
func (w *deliveryWorld) addRecipient(t *testing.T, svc *service.Service, kind, label, addr, secret string) service.RecipientView {
	t.Helper()
	r, err := svc.ProposeRecipient(w.As(w.Security), kind, label, addr, secret)
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if r, err = svc.ApproveRecipientChange(w.As(w.dpo), r.ID, testfix.Code(t, w.dpoSecret)); err != nil {
		t.Fatalf("approve: %v", err)
	}
	return r
}

func outbox(t *testing.T, w *deliveryWorld, svc *service.Service, status string) []service.OutboxItemView {
	t.Helper()
	items, err := svc.Outbox(w.As(w.Security), status)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// byKey returns the recipient keys of the outbox rows of message key.
func byKey(items []service.OutboxItemView, key string) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		if it.MessageKey == key {
			out[it.Recipient]++
		}
	}
	return out
}

func testAlert(w *deliveryWorld) confidant.Alert {
	now := w.clock().UTC()
	return confidant.Alert{
		ID: confidant.NewID(), Rule: "no_care", Severity: confidant.AlertHigh, ActorID: w.OtherTherapist.ID,
		PatientIDs:  []string{w.PatientA.ID, w.PatientC.ID},
		Explanation: "Opened 2 charts of patients outside their care within 10 minutes.",
		From:        now.Add(-10 * time.Minute), To: now, FirstIndex: 10, LastIndex: 42, CreatedAt: now, Status: confidant.AlertNew,
	}
}

// Enqueue fans a message out to every current recipient inside the
// caller's transaction: a rolled-back transaction queues nothing, and a
// second Enqueue of the same key adds nothing.
func TestEnqueueFansOutInCallersTx(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	board := w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	hook := w.addRecipient(t, svc, "webhook", "other", "https://siem.example.org/hook", "0123456789abcdef0123")
	pending, err := svc.ProposeRecipient(w.As(w.Security), "email", "other", "pending@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	m := svc.AlertNotification(testAlert(w))
	boom := errors.New("the caller's transaction fails")
	err = w.stk.st.Update(t.Context(), func(tx confidant.Tx) error {
		if err := svc.Enqueue(t.Context(), tx, m); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if got := byKey(outbox(t, w, svc, ""), m.Key); len(got) != 0 {
		t.Fatalf("a rolled-back transaction queued %v", got)
	}
	for range 2 {
		if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	got := byKey(outbox(t, w, svc, "pending"), m.Key)
	want := map[string]int{"user:" + w.officer.ID: 1, "user:" + w.dpo.ID: 1, "recipient:" + board.ID: 1, "recipient:" + hook.ID: 1}
	if len(got) != len(want) {
		t.Errorf("queued for %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("queued for %s: %d, want %d", k, got[k], n)
		}
	}
	if got["recipient:"+pending.ID] != 0 || got["user:"+w.Security.ID] != 0 {
		t.Errorf("queued for a pending recipient or an officer without an address: %v", got)
	}
}

// hookReceiver is a webhook receiver that verifies the signature and
// answers with the status the test sets.
type hookReceiver struct {
	t      *testing.T
	secret string
	now    func() time.Time
	status atomic.Int32
	mu     sync.Mutex
	got    []hookCall
}

type hookCall struct {
	id   string
	body []byte
}

func newHookReceiver(t *testing.T, secret string, now func() time.Time) (*hookReceiver, *httptest.Server) {
	h := &hookReceiver{t: t, secret: secret, now: now}
	h.status.Store(http.StatusNoContent)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		h.t.Errorf("webhook: %s %s", r.Method, r.Header.Get("Content-Type"))
	}
	if !service.VerifyWebhook(h.secret, r.Header.Get("Confidant-Signature"), body, h.now(), 5*time.Minute) {
		h.t.Errorf("webhook signature does not verify")
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	if service.VerifyWebhook("another secret of some length", r.Header.Get("Confidant-Signature"), body, h.now(), 5*time.Minute) {
		h.t.Errorf("webhook signature verifies under another secret")
	}
	st := int(h.status.Load())
	if st/100 == 2 {
		h.mu.Lock()
		h.got = append(h.got, hookCall{id: r.Header.Get("Confidant-Delivery"), body: body})
		h.mu.Unlock()
	}
	rw.WriteHeader(st)
}

func (h *hookReceiver) calls() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.got...)
}

var messageIDRe = regexp.MustCompile(`(?mi)^Message-Id: <(outbox\.[a-z0-9]+@confidant\.clinic\.example)>\r?$`)

// An alert is delivered through a real SMTP server and to a webhook that
// checks the signature: each row once, the mail with a Message-ID derived
// from its row, the webhook with the row's id, and no patient named.
func TestDeliveryMailAndWebhook(t *testing.T) {
	w := newDeliveryWorld(t)
	const secret = "webhook-secret-0123456789"
	h, srv := newHookReceiver(t, secret, w.clock)
	svc := w.service(t, w.stk)
	w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	hook := w.addRecipient(t, svc, "webhook", "security", srv.URL+"/confidant", secret)
	// Deliver the change notices first.
	if _, failed, err := svc.DeliverDue(t.Context()); err != nil || failed != 0 {
		t.Fatalf("deliver the notices: %d failed, %v", failed, err)
	}
	before, beforeHook := len(w.smtp.Messages()), len(h.calls())

	a := testAlert(w)
	m := svc.AlertNotification(a)
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	delivered, failed, err := svc.DeliverDue(t.Context())
	if err != nil || delivered != 4 || failed != 0 {
		t.Fatalf("DeliverDue: %d delivered, %d failed, %v; want 4, 0", delivered, failed, err)
	}
	if d, f, err := svc.DeliverDue(t.Context()); d != 0 || f != 0 || err != nil {
		t.Errorf("a second pass: %d delivered, %d failed, %v", d, f, err)
	}
	rows := outbox(t, w, svc, "delivered")
	ids := map[string]string{} // recipient key -> row id
	for _, it := range rows {
		if it.MessageKey == m.Key {
			ids[it.Recipient] = it.ID
		}
	}
	msgs := w.smtp.Messages()[before:]
	if len(msgs) != 3 {
		t.Fatalf("%d mails, want 3 (officer, DPO, board)", len(msgs))
	}
	seenTo := map[string]bool{}
	for _, msg := range msgs {
		seenTo[msg.To[0]] = true
		text := string(msg.Data)
		mid := messageIDRe.FindStringSubmatch(text)
		if mid == nil {
			t.Errorf("mail to %s: no Message-ID of an outbox row", msg.To[0])
			continue
		}
		found := false
		for _, id := range ids {
			found = found || mid[1] == "outbox."+id+"@confidant.clinic.example"
		}
		if !found {
			t.Errorf("mail to %s: Message-ID %s is no delivered row's", msg.To[0], mid[1])
		}
		for _, leak := range []string{w.PatientA.ID, w.PatientC.ID, w.PatientA.FamilyName, w.PatientC.FamilyName} {
			if strings.Contains(text, leak) {
				t.Errorf("mail to %s names a patient", msg.To[0])
			}
		}
		for _, want := range []string{"no_care", "high", "2 concerned", "/alerts/" + a.ID, "outside their care"} {
			if !strings.Contains(text, want) {
				t.Errorf("mail to %s lacks %q", msg.To[0], want)
			}
		}
	}
	for _, to := range []string{"officer@clinic.example", "dpo@clinic.example", "board@example.org"} {
		if !seenTo[to] {
			t.Errorf("no mail to %s", to)
		}
	}
	calls := h.calls()[beforeHook:]
	if len(calls) != 1 || calls[0].id != ids["recipient:"+hook.ID] {
		t.Fatalf("webhook calls %d (id %v), want 1 with the row id %s", len(calls), calls, ids["recipient:"+hook.ID])
	}
	var body struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Patients int    `json:"patients"`
		Rule     string `json:"rule"`
	}
	if err := json.Unmarshal(calls[0].body, &body); err != nil || body.Type != "alert" || body.ID != a.ID || body.Patients != 2 || body.Rule != "no_care" {
		t.Errorf("webhook body: %+v %v", body, err)
	}
	if strings.Contains(string(calls[0].body), w.PatientA.ID) {
		t.Error("the webhook body names a patient")
	}
}

// A failing receiver is retried with exponential backoff (10 s, 20 s, …
// jittered by ±20%) on the service's clock, and the attempts and the last
// error are shown; when it recovers the row is delivered once.
func TestDeliveryRetryBackoff(t *testing.T) {
	w := newDeliveryWorld(t)
	const secret = "webhook-secret-0123456789"
	h, srv := newHookReceiver(t, secret, w.clock)
	svc := w.service(t, w.stk)
	hook := w.addRecipient(t, svc, "webhook", "other", srv.URL, secret)
	if _, _, err := svc.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.status.Store(http.StatusServiceUnavailable)
	m := service.Notification{Key: "test:retry", Subject: "retry", Text: "retry"}
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	row := func() service.OutboxItemView {
		t.Helper()
		for _, it := range outbox(t, w, svc, "") {
			if it.MessageKey == m.Key && it.Recipient == "recipient:"+hook.ID {
				return it
			}
		}
		t.Fatal("no row")
		return service.OutboxItemView{}
	}
	pass := func() (int, int) {
		t.Helper()
		d, f, err := svc.DeliverDue(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return d, f
	}
	pass() // the mails to the officers; the webhook fails
	r := row()
	if r.Status != "failed" || r.Attempts != 1 || r.LastError != "webhook_http_503" {
		t.Fatalf("after one failure: %+v", r)
	}
	if wait := r.NextAttemptAt.Sub(w.clock()); wait < 8*time.Second || wait > 12*time.Second {
		t.Errorf("first retry in %v, want 10 s ± 20%%", wait)
	}
	if d, f := pass(); d+f != 0 {
		t.Errorf("a pass before the retry is due: %d delivered, %d failed", d, f)
	}
	w.advance(13 * time.Second)
	if _, f := pass(); f != 1 {
		t.Errorf("the retry: %d failed, want 1", f)
	}
	r = row()
	if wait := r.NextAttemptAt.Sub(w.clock()); r.Attempts != 2 || wait < 16*time.Second || wait > 24*time.Second {
		t.Errorf("second retry in %v after %d attempts, want 20 s ± 20%% after 2", wait, r.Attempts)
	}
	h.status.Store(http.StatusOK)
	w.advance(25 * time.Second)
	if d, _ := pass(); d != 1 {
		t.Errorf("after the receiver recovered: %d delivered, want 1", d)
	}
	if r = row(); r.Status != "delivered" || r.Attempts != 3 || r.LastError != "" {
		t.Errorf("delivered row: %+v", r)
	}
	if n := len(h.calls()); n != 3 { // the proposal and approval notices, and this one
		t.Errorf("%d successful webhook calls, want 3", n)
	}
}

// Rows queued before a crash are delivered after the restart, once per
// recipient; a row leased by a worker that died is delivered by another
// once the lease ends.
func TestOutboxSurvivesRestart(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	m := svc.AlertNotification(testAlert(w))
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	// A worker claims every row and dies without sending.
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error {
		_, err := tx.ClaimOutbox(t.Context(), "dead-worker", w.clock(), w.clock().Add(5*time.Minute), 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.stk.close() // the crash

	stk := openStack(t, w.stk.dir)
	svc2 := w.service(t, stk)
	if d, f, err := svc2.DeliverDue(t.Context()); d+f != 0 || err != nil {
		t.Fatalf("while the dead worker's lease lasts: %d delivered, %d failed, %v", d, f, err)
	}
	w.advance(6 * time.Minute)
	d, f, err := svc2.DeliverDue(t.Context())
	if err != nil || f != 0 {
		t.Fatalf("after restart: %d failed, %v", f, err)
	}
	if d2, _, _ := svc2.DeliverDue(t.Context()); d2 != 0 {
		t.Errorf("a second pass delivered %d", d2)
	}
	items, err := svc2.Outbox(w.As(w.Security), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != d {
		t.Errorf("%d rows, %d delivered", len(items), d)
	}
	perTo := map[string]int{}
	for _, msg := range w.smtp.Messages() {
		if strings.Contains(string(msg.Data), "no_care") {
			perTo[msg.To[0]]++
		}
	}
	want := map[string]int{"officer@clinic.example": 1, "dpo@clinic.example": 1, "board@example.org": 1}
	for to, n := range want {
		if perTo[to] != n {
			t.Errorf("alert mails to %s: %d, want %d", to, perTo[to], n)
		}
	}
}

// Two workers on one database deliver each row once.
func TestTwoWorkersDeliverOnce(t *testing.T) {
	w := newDeliveryWorld(t)
	svc1, svc2 := w.service(t, w.stk), w.service(t, w.stk)
	w.addRecipient(t, svc1, "email", "board", "board@example.org", "")
	const alerts = 15
	err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error {
		for range alerts {
			if err := svc1.Enqueue(t.Context(), tx, svc1.AlertNotification(testAlert(w))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, s := range []*service.Service{svc1, svc2, svc1, svc2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := s.DeliverDue(t.Context())
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(d))
		}()
	}
	wg.Wait()
	rows := outbox(t, w, svc1, "")
	ids := map[string]int{}
	for _, msg := range w.smtp.Messages() {
		if mid := messageIDRe.FindStringSubmatch(string(msg.Data)); mid != nil {
			ids[mid[1]]++
		}
	}
	for _, r := range rows {
		if r.Status != "delivered" {
			t.Errorf("row %s: %s", r.ID, r.Status)
		}
		if n := ids["outbox."+r.ID+"@confidant.clinic.example"]; n != 1 {
			t.Errorf("row %s sent %d times", r.ID, n)
		}
	}
	if int(total.Load()) != len(rows) {
		t.Errorf("workers report %d delivered, %d rows", total.Load(), len(rows))
	}
}

// A change of recipients needs a second person with a second factor, and
// is told to every recipient, old and new.
func TestRecipientChangeNeedsSecondPerson(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	sec := w.As(w.Security)
	for _, tc := range []struct{ kind, label, addr, secret, code string }{
		{"sms", "board", "+358401234567", "", "invalid_kind"},
		{"email", "ceo", "board@example.org", "", "invalid_label"},
		{"email", "board", "Board <board@example.org>", "", "invalid_address"},
		{"webhook", "other", "ftp://siem.example.org/", "0123456789abcdef", "invalid_url"},
		{"webhook", "other", "https://siem.example.org/", "short", "invalid_secret"},
		{"email", "board", "board@example.org", "a secret", "invalid_secret"},
	} {
		if _, err := svc.ProposeRecipient(sec, tc.kind, tc.label, tc.addr, tc.secret); confidant.CodeOf(err) != tc.code {
			t.Errorf("propose %+v: %v, want %s", tc, err, tc.code)
		}
	}
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser} {
		if _, err := svc.ProposeRecipient(w.As(u), "email", "board", "board@example.org", ""); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s proposes: %v", u.Username, err)
		}
	}
	r, err := svc.ProposeRecipient(sec, "email", "board", "board@example.org", "")
	if err != nil || r.Status != "pending" || r.Receives {
		t.Fatalf("propose: %+v %v", r, err)
	}
	changes, err := svc.RecipientChanges(w.As(w.dpo))
	if err != nil || len(changes) != 1 || changes[0].ID != r.ID || changes[0].Change != "add" {
		t.Fatalf("changes: %+v %v", changes, err)
	}
	secSecret := w.TOTPSecret(w.Security)
	// Refused before the code is looked at.
	if _, err := svc.ApproveRecipientChange(sec, r.ID, "123456"); confidant.CodeOf(err) != "cannot_approve_own_change" {
		t.Errorf("the proposer approves: %v", err)
	}
	if _, err := svc.ApproveRecipientChange(w.As(w.dpo), r.ID, "000000"); confidant.CodeOf(err) != "second_factor_invalid" {
		t.Errorf("approval with a wrong code: %v", err)
	}
	if _, err := svc.ApproveRecipientChange(w.As(w.dpo), r.ID, ""); confidant.CodeOf(err) != "second_factor_required" {
		t.Errorf("approval without a code: %v", err)
	}
	if r, err = svc.ApproveRecipientChange(w.As(w.dpo), r.ID, testfix.Code(t, w.dpoSecret)); err != nil || r.Status != "active" || !r.Receives || r.ApprovedBy != w.dpo.ID {
		t.Fatalf("approve: %+v %v", r, err)
	}
	if _, err := svc.ApproveRecipientChange(sec, r.ID, "123456"); confidant.CodeOf(err) != "no_pending_change" {
		t.Errorf("approving again: %v", err)
	}
	items := outbox(t, w, svc, "")
	everyone := []string{"user:" + w.officer.ID, "user:" + w.dpo.ID, "recipient:" + r.ID}
	for _, key := range []string{"recipient:" + r.ID + ":pending", "recipient:" + r.ID + ":active"} {
		got := byKey(items, key)
		for _, k := range everyone {
			if got[k] != 1 {
				t.Errorf("notice %s to %s: %d, want 1", key, k, got[k])
			}
		}
	}

	// Removal: proposed by the DPO, refused to the DPO, approved by the
	// security officer; the removed recipient is told, then gets nothing.
	if r, err = svc.ProposeRecipientRemoval(w.As(w.dpo), r.ID); err != nil || r.Status != "removing" || !r.Receives {
		t.Fatalf("propose removal: %+v %v", r, err)
	}
	if _, err := svc.ApproveRecipientChange(w.As(w.dpo), r.ID, "123456"); confidant.CodeOf(err) != "cannot_approve_own_change" {
		t.Errorf("the proposer approves the removal: %v", err)
	}
	if r, err = svc.ApproveRecipientChange(sec, r.ID, testfix.Code(t, secSecret)); err != nil || r.Status != "removed" || r.Receives {
		t.Fatalf("approve removal: %+v %v", r, err)
	}
	items = outbox(t, w, svc, "")
	for _, key := range []string{"recipient:" + r.ID + ":removing", "recipient:" + r.ID + ":removed"} {
		got := byKey(items, key)
		for _, k := range everyone {
			if got[k] != 1 {
				t.Errorf("notice %s to %s: %d, want 1", key, k, got[k])
			}
		}
	}
	m := service.Notification{Key: "after-removal", Subject: "s", Text: "t"}
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	if got := byKey(outbox(t, w, svc, ""), m.Key); got["recipient:"+r.ID] != 0 || len(got) != 2 {
		t.Errorf("after the removal: %v", got)
	}
	outcomes := map[string]int{}
	for _, e := range w.eventsOf(t, svc, service.ActRecipientApprove) {
		outcomes[e.Outcome]++
	}
	// Two approvals, and the two proposers' refused approvals.
	if outcomes[confidant.OutcomeOK] != 2 || outcomes[confidant.OutcomeDenied] != 2 {
		t.Errorf("approvals in the access log: %v, want 2 ok and 2 denied", outcomes)
	}
}

func (w *deliveryWorld) eventsOf(t *testing.T, svc *service.Service, action string) []service.AccessEntry {
	t.Helper()
	es, err := svc.AuditEvents(w.As(w.Security), service.AuditQuery{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// A recipient row changed in the database is not silently used: a forged
// status does not silence a recipient (it keeps receiving, marked
// unverified, and cannot be changed); a row inserted in SQL, or one whose
// sealed address was copied from another row, receives nothing; each is
// reported as integrity.fact_forged.
func TestForgedRecipientNotSilentlyUsed(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	board := w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(w.stk.dir, "confidant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Silence the board contact, and add an address of one's own in two
	// ways: a row with made-up sealed data, and one with the board's
	// sealed address copied.
	exec(`UPDATE recipients SET status = 'removed' WHERE id = ?`, board.ID)
	made, copied := confidant.NewID(), confidant.NewID()
	exec(`INSERT INTO recipients (id, kind, label, status, proposed_by, proposed_at, data, fact_mac)
		VALUES (?, 'email', 'other', 'active', ?, 1, x'0102030405', x'00')`, made, w.Security.ID)
	exec(`INSERT INTO recipients (id, kind, label, status, proposed_by, proposed_at, data, fact_mac)
		SELECT ?, kind, label, 'active', proposed_by, proposed_at, data, fact_mac FROM recipients WHERE id = ?`, copied, board.ID)

	m := service.Notification{Key: "after-forgery", Subject: "s", Text: "t"}
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	got := byKey(outbox(t, w, svc, ""), m.Key)
	if got["recipient:"+board.ID] != 1 {
		t.Errorf("the board contact whose row was forged to removed was silenced: %v", got)
	}
	if got["recipient:"+made] != 0 || got["recipient:"+copied] != 0 {
		t.Errorf("a forged recipient was used: %v", got)
	}
	rs, err := svc.Recipients(w.As(w.Security))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == board.ID && (r.Verified || !r.Receives) {
			t.Errorf("forged board row shown as %+v", r)
		}
		if (r.ID == made || r.ID == copied) && (r.Verified || r.Receives || r.Address != "") {
			t.Errorf("forged row shown as %+v", r)
		}
	}
	if _, err := svc.ProposeRecipientRemoval(w.As(w.dpo), board.ID); confidant.CodeOf(err) != "recipient_integrity" {
		t.Errorf("changing a forged row: %v", err)
	}
	// Each forged row is reported in the access log (from a goroutine).
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]bool{}
		for _, e := range w.eventsOf(t, svc, service.ActFactForged) {
			seen[e.RecordID] = true
		}
		if seen[board.ID] && seen[made] && seen[copied] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forged rows reported: %v", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type fakeDigestSource struct{}

func (fakeDigestSource) AlertCounts(_ context.Context, from, to time.Time) (map[string]int, error) {
	if !to.After(from) {
		return nil, errors.New("empty period")
	}
	return map[string]int{"no_care": 3, "honeytoken": 1}, nil
}

func (fakeDigestSource) OpenIncidents(context.Context) ([]service.DigestIncident, error) {
	opened := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return []service.DigestIncident{{ID: "inc1", Clock: "authority 72h", OpenedAt: opened, Deadline: opened.Add(72 * time.Hour)}}, nil
}

// The board digest is signed with the log's checkpoint key and verifies;
// a tampered one does not; it is queued once per period to every
// recipient; only security officers and the DPO read it.
func TestBoardDigest(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk, service.WithBoardDigest(7*24*time.Hour, fakeDigestSource{}, w.stk.log))
	board := w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser} {
		if _, err := svc.BoardDigest(w.As(u)); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s reads the digest: %v", u.Username, err)
		}
	}
	d, err := svc.BoardDigest(w.As(w.dpo))
	if err != nil {
		t.Fatal(err)
	}
	if d.To.Sub(d.From) != 7*24*time.Hour || d.To.After(w.clock()) || w.clock().Sub(d.To) >= 7*24*time.Hour {
		t.Errorf("period %v to %v at %v", d.From, d.To, w.clock())
	}
	if d.CheckpointSize == 0 || d.ActiveRecipients != 1 || d.Alerts["no_care"] != 3 || len(d.Incidents) != 1 {
		t.Errorf("digest: %+v", d)
	}
	body, err := w.stk.log.OpenDigest([]byte(d.Signed))
	if err != nil {
		t.Fatalf("the digest does not verify: %v", err)
	}
	for _, want := range []string{"alert no_care 3\n", "alert honeytoken 1\n", "incident inc1 authority_72h opened 2026-12-01T09:00:00Z deadline 2026-12-04T09:00:00Z\n",
		"recipients 1\n", "incidents 1 open\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("digest body lacks %q:\n%s", want, body)
		}
	}
	tampered := strings.Replace(d.Signed, "alert no_care 3", "alert no_care 0", 1)
	if _, err := w.stk.log.OpenDigest([]byte(tampered)); err == nil {
		t.Error("a tampered digest verified")
	}
	for range 2 {
		if err := svc.QueueBoardDigest(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Another server (another process) queues the same period: nothing new.
	other := w.service(t, w.stk, service.WithBoardDigest(7*24*time.Hour, fakeDigestSource{}, w.stk.log))
	if err := other.QueueBoardDigest(t.Context()); err != nil {
		t.Fatal(err)
	}
	key := "board-digest:" + strconv.FormatInt(d.From.Unix(), 10)
	got := byKey(outbox(t, w, svc, ""), key)
	want := map[string]int{"user:" + w.officer.ID: 1, "user:" + w.dpo.ID: 1, "recipient:" + board.ID: 1}
	if len(got) != len(want) {
		t.Errorf("digest queued for %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("digest for %s: %d, want %d", k, got[k], n)
		}
	}
	if _, _, err := svc.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	var mailed string
	for _, m := range w.smtp.Messages() {
		if m.To[0] == "board@example.org" && strings.Contains(string(m.Data), "board digest") {
			mailed = string(m.Data)
		}
	}
	if !strings.Contains(mailed, "stops arriving") || !strings.Contains(mailed, "verify-digest") {
		t.Errorf("the board's digest mail lacks its instructions")
	}
}

// RunOutbox, as serve runs it, delivers what is queued while it runs and
// returns when its context ends.
func TestRunOutbox(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); svc.RunOutbox(ctx, 20*time.Millisecond) }()
	m := svc.AlertNotification(testAlert(w))
	if err := w.stk.st.Update(t.Context(), func(tx confidant.Tx) error { return svc.Enqueue(t.Context(), tx, m) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := byKey(outbox(t, w, svc, "delivered"), m.Key)
		if len(got) == 2 { // the officer and the DPO
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered while the worker runs: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("RunOutbox did not return after its context ended")
	}
}

// Raising an alert queues it for every recipient in the same transaction;
// raising the same finding again (same key) queues nothing more.
func TestRaisedAlertQueuedForEveryRecipient(t *testing.T) {
	w := newDeliveryWorld(t)
	svc := w.service(t, w.stk)
	board := w.addRecipient(t, svc, "email", "board", "board@example.org", "")
	in := testAlert(w)
	in.Key = "no_care|" + in.ActorID + "|test"
	for range 2 {
		if _, err := svc.RaiseAlertsNow(t.Context(), []confidant.Alert{in}); err != nil {
			t.Fatal(err)
		}
	}
	alerts, err := svc.ListAlerts(w.As(w.Security), service.AlertQuery{})
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts %d %v, want 1", len(alerts), err)
	}
	got := byKey(outbox(t, w, svc, "pending"), "alert:"+alerts[0].ID)
	want := map[string]int{"user:" + w.officer.ID: 1, "user:" + w.dpo.ID: 1, "recipient:" + board.ID: 1}
	if len(got) != len(want) {
		t.Fatalf("queued for %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("queued for %v, want %v", got, want)
		}
	}
}
