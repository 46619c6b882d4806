package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// sink is the alert store of the tests: idempotent by key, as the real
// one (service.RaiseAlerts) is.
type sink struct {
	mu      sync.Mutex
	stored  map[string]confidant.Alert
	order   []string
	calls   int
	repeats int                  // alerts raised again with a stored key
	fail    func(call int) error // after storing: the error to return
}

func newSink() *sink { return &sink{stored: map[string]confidant.Alert{}} }

func (s *sink) raise(_ context.Context, as []confidant.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, a := range as {
		if a.Key == "" || a.Rule == "" || a.Explanation == "" || a.Severity == "" {
			return fmt.Errorf("incomplete alert %+v", a)
		}
		if _, ok := s.stored[a.Key]; ok {
			s.repeats++
			continue
		}
		s.stored[a.Key] = a
		s.order = append(s.order, a.Key)
	}
	if s.fail != nil {
		return s.fail(s.calls)
	}
	return nil
}

func (s *sink) byRule(rule string) []confidant.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []confidant.Alert
	for _, k := range s.order {
		if a := s.stored[k]; a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func (s *sink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.order)
	sort.Strings(out)
	return out
}

func (s *sink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, a := range s.stored {
		m[a.Rule+"/"+string(a.Severity)]++
	}
	return m
}

// env is a test world with its access log and keyring.
type env struct {
	*testfix.World
	st   *seal.Store
	log  *audit.Log
	keys *keys.Keyring
	sink *sink
}

func newEnv(t testing.TB) *env {
	t.Helper()
	k := testfix.Keyring(t)
	st := testfix.Seal(t, testfix.SQLiteBackend(t), k)
	return &env{World: testfix.New(t, st), st: st, log: testfix.Log(st), keys: k, sink: newSink()}
}

// always is opening hours that are never closed, for tests of other rules.
func always(t testing.TB) *Hours {
	h, err := ParseHours("Mon-Sun 00:00-24:00")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e *env) detector(t testing.TB, mod func(*Config)) *Detector {
	t.Helper()
	cfg := Config{Sink: e.sink.raise, Rules: Rules{Hours: always(t)}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Surname: func(f string) ([]byte, error) { return seal.SurnameIndex(e.keys, f) }}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(e.log, e.st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// record appends events to the log.
func (e *env) record(t testing.TB, evs ...confidant.AuditEvent) {
	t.Helper()
	if err := e.log.Record(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

func ev(at time.Time, u confidant.User, action, patient, outcome string) confidant.AuditEvent {
	clinic := ""
	if len(u.ClinicIDs) > 0 {
		clinic = u.ClinicIDs[0]
	}
	return confidant.AuditEvent{Time: at, ActorID: u.ID, Role: u.Role, ClinicID: clinic, Action: action, PatientID: patient, Outcome: outcome}
}

// drain steps until the detector is at the end of the log.
func drain(t testing.TB, d *Detector) {
	t.Helper()
	for i := 0; ; i++ {
		n, err := d.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if i > 10_000 {
			t.Fatal("the detector does not reach the end of the log")
		}
	}
}

func watermark(t testing.TB, l *audit.Log, name string) (next, size uint64) {
	t.Helper()
	err := l.View(context.Background(), func(tx confidant.SealedTx) (err error) {
		if next, _, err = tx.DetectorState(context.Background(), name); err != nil {
			return err
		}
		size, err = tx.LogSize(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return next, size
}

func wantRule(t *testing.T, s *sink, rule string, n int, sev confidant.AlertSeverity) []confidant.Alert {
	t.Helper()
	got := s.byRule(rule)
	if len(got) != n {
		t.Fatalf("%s: %d alerts, want %d: %+v", rule, len(got), n, got)
	}
	for _, a := range got {
		if sev != "" && a.Severity != sev {
			t.Errorf("%s: severity %s, want %s", rule, a.Severity, sev)
		}
		if !strings.Contains(a.Explanation, about(rule)) && rule != RuleIntegrity {
			t.Errorf("%s: the explanation lacks the rule's description: %q", rule, a.Explanation)
		}
	}
	return got
}

// noNames fails if an explanation names a patient (by name or id).
func noNames(t *testing.T, s *sink, e *env) {
	t.Helper()
	for _, a := range s.stored {
		for _, p := range []confidant.Patient{e.PatientA, e.PatientB, e.PatientC} {
			for _, x := range []string{p.ID, p.FamilyName, p.GivenName} {
				if strings.Contains(a.Explanation, x) {
					t.Errorf("%s: the explanation names a patient: %q", a.Rule, a.Explanation)
				}
			}
		}
	}
}

func TestNoCare(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	base := time.Now().UTC().Add(time.Hour)
	th := e.Therapist
	e.record(t,
		ev(base, th, "chart.read", e.PatientA.ID, confidant.OutcomeOK),                      // in care: silent
		ev(base.Add(time.Minute), th, "chart.read", e.PatientC.ID, confidant.OutcomeDenied), // refused: not an access
		ev(base.Add(2*time.Minute), th, "patients.list", "", confidant.OutcomeOK),
	)
	drain(t, d)
	wantRule(t, e.sink, RuleNoCare, 0, "")
	e.record(t, ev(base.Add(3*time.Minute), th, "chart.read", e.PatientC.ID, confidant.OutcomeOK)) // no care, no grant
	drain(t, d)
	got := wantRule(t, e.sink, RuleNoCare, 1, confidant.AlertHigh)
	if got[0].ActorID != th.ID || !slices.Equal(got[0].PatientIDs, []string{e.PatientC.ID}) {
		t.Errorf("alert = %+v", got[0])
	}
	// Break-the-glass: the grant's event and the accesses under it raise
	// one medium alert per grant.
	g := confidant.BreakGlass{ID: confidant.NewID(), TherapistID: e.OtherTherapist.ID, PatientID: e.PatientA.ID, ClinicID: e.ClinicA.ID,
		Category: "crisis", Reason: "test", CreatedAt: base, ExpiresAt: base.Add(4 * time.Hour), Status: confidant.BreakGlassOpen}
	if err := e.st.Update(context.Background(), func(tx confidant.Tx) error { return tx.CreateBreakGlass(context.Background(), g) }); err != nil {
		t.Fatal(err)
	}
	bg := ev(base.Add(4*time.Minute), e.OtherTherapist, actBreakGlass, e.PatientA.ID, confidant.OutcomeOK)
	bg.RecordID = g.ID
	e.record(t, bg,
		ev(base.Add(5*time.Minute), e.OtherTherapist, "chart.read", e.PatientA.ID, confidant.OutcomeOK),
		ev(base.Add(6*time.Minute), e.OtherTherapist, "notes.read", e.PatientA.ID, confidant.OutcomeOK))
	drain(t, d)
	all := e.sink.byRule(RuleNoCare)
	if len(all) != 2 || all[1].Severity != confidant.AlertMedium || all[1].Key != RuleNoCare+"|grant|"+g.ID {
		t.Fatalf("break-the-glass: %+v", all)
	}
	// After the grant expired, an access is high again.
	e.record(t, ev(base.Add(5*time.Hour), e.OtherTherapist, "chart.read", e.PatientA.ID, confidant.OutcomeOK))
	drain(t, d)
	if all := e.sink.byRule(RuleNoCare); len(all) != 3 || all[2].Severity != confidant.AlertHigh {
		t.Fatalf("after expiry: %+v", all)
	}
	noNames(t, e.sink, e)
}

// volume uses the manager (no care rules) and made-up patient ids.
func TestVolume(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, func(c *Config) { c.Rules.VolumeHour, c.Rules.VolumeDay = 5, 12 })
	m := e.Manager
	hour := time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)
	var pts []string
	for range 20 {
		pts = append(pts, confidant.NewID())
	}
	first, _, err := e.log.Head(context.Background()) // the position of the first event below
	if err != nil {
		t.Fatal(err)
	}
	// 5 patients in an hour, each several times: at the limit, silent.
	var evs []confidant.AuditEvent
	for i := range 15 {
		evs = append(evs, ev(hour.Add(time.Duration(i)*time.Minute), m, "chart.read", pts[i%5], confidant.OutcomeOK))
	}
	e.record(t, evs...)
	drain(t, d)
	wantRule(t, e.sink, RuleVolumeHour, 0, "")
	// A sixth in the next hour: still silent (another window).
	e.record(t, ev(hour.Add(61*time.Minute), m, "chart.read", pts[5], confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleVolumeHour, 0, "")
	// A sixth in the first hour: raised, once, however many follow.
	e.record(t, ev(hour.Add(50*time.Minute), m, "chart.read", pts[6], confidant.OutcomeOK),
		ev(hour.Add(51*time.Minute), m, "chart.read", pts[7], confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleVolumeHour, 1, confidant.AlertMedium)[0]
	if len(a.PatientIDs) != 6 || !strings.Contains(a.Explanation, "6 different patients") || !strings.Contains(a.Explanation, "limit of 5") {
		t.Errorf("volume_hour alert: %d patients, %q", len(a.PatientIDs), a.Explanation)
	}
	// It covers its window from the hour's first event to the crossing
	// (the 17th event recorded, the 6th patient of the first hour).
	if !a.From.Equal(hour) || !a.To.Equal(hour.Add(50*time.Minute)) || a.FirstIndex != first || a.LastIndex != first+16 {
		t.Errorf("volume_hour covers %v–%v, events %d–%d; want %v–%v, %d–%d", a.From, a.To, a.FirstIndex, a.LastIndex,
			hour, hour.Add(50*time.Minute), first, first+16)
	}
	// The day: 8 so far; 12 is the limit, the 13th raises.
	evs = nil
	for i := 8; i < 12; i++ {
		evs = append(evs, ev(hour.Add(time.Duration(i-6)*time.Hour), m, "note.read", pts[i], confidant.OutcomeOK))
	}
	e.record(t, evs...)
	drain(t, d)
	wantRule(t, e.sink, RuleVolumeDay, 0, "")
	e.record(t, ev(hour.Add(7*time.Hour), m, "note.read", pts[12], confidant.OutcomeOK))
	drain(t, d)
	day := wantRule(t, e.sink, RuleVolumeDay, 1, confidant.AlertMedium)[0]
	if !day.From.Equal(hour) || day.FirstIndex != first {
		t.Errorf("volume_day covers from %v (event %d), want the day's first access %v (%d)", day.From, day.FirstIndex, hour, first)
	}
	// Refused reads and events without a patient do not count.
	for i := 13; i < 20; i++ {
		e.record(t, ev(hour.AddDate(0, 0, 2), m, "chart.read", pts[i], confidant.OutcomeDenied)) // 7 patients, another hour and day
	}
	drain(t, d)
	if n := len(e.sink.byRule(RuleVolumeHour)); n != 1 {
		t.Errorf("refusals counted as accesses: %d volume_hour alerts", n)
	}
}

func TestVolumeRise(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, func(c *Config) { c.Rules.RiseFloor, c.Rules.VolumeDay, c.Rules.VolumeHour = 10, 1000, 1000 })
	m := e.Manager
	day := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var evs []confidant.AuditEvent
	// Two weeks of 4 patients a day.
	for dd := range 14 {
		for i := range 4 {
			evs = append(evs, ev(day.AddDate(0, 0, dd).Add(time.Duration(i)*time.Minute), m, "chart.read", fmt.Sprintf("p%02d%02d", dd, i), confidant.OutcomeOK))
		}
	}
	// Then 12 in a day: at the floor but 12 = 3 × 4 is not above it.
	for i := range 12 {
		evs = append(evs, ev(day.AddDate(0, 0, 14).Add(time.Duration(i)*time.Minute), m, "chart.read", fmt.Sprintf("q%02d", i), confidant.OutcomeOK))
	}
	e.record(t, evs...)
	drain(t, d)
	wantRule(t, e.sink, RuleVolumeRise, 0, "")
	// A 13th that day: raised.
	e.record(t, ev(day.AddDate(0, 0, 14).Add(time.Hour), m, "chart.read", "q99", confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleVolumeRise, 1, confidant.AlertMedium)[0]
	if !strings.Contains(a.Explanation, "13 different patients") || !strings.Contains(a.Explanation, "more than 4") {
		t.Errorf("explanation: %q", a.Explanation)
	}
}

func TestAfterHoursDST(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, func(c *Config) { c.Rules.Hours = nil }) // the default, Mon–Fri 07:00–20:00
	m := e.Manager
	// Helsinki moved from UTC+2 to UTC+3 on Sunday 29 March 2026 at 03:00.
	// 04:30 UTC is 06:30 local on Monday 23 March (closed) and 07:30 local
	// on Monday 30 March (open).
	before := time.Date(2026, 3, 23, 4, 30, 0, 0, time.UTC)
	after := time.Date(2026, 3, 30, 4, 30, 0, 0, time.UTC)
	e.record(t, ev(after, m, "chart.read", "p1", confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleAfterHours, 0, "")
	e.record(t, ev(before, m, "chart.read", "p1", confidant.OutcomeOK),
		ev(before.Add(time.Minute), m, "chart.read", "p2", confidant.OutcomeOK)) // same day: no second alert
	drain(t, d)
	a := wantRule(t, e.sink, RuleAfterHours, 1, confidant.AlertLow)[0]
	if !strings.Contains(a.Explanation, "06:30") {
		t.Errorf("explanation: %q", a.Explanation)
	}
	// Autumn: back to UTC+2 on Sunday 25 October 2026. 18:30 UTC is 21:30
	// local on Friday 23 October (closed), 20:30 on Friday 30 October
	// (closed), and 17:30 UTC is 19:30 on 30 October (open).
	e.record(t, ev(time.Date(2026, 10, 30, 17, 30, 0, 0, time.UTC), m, "chart.read", "p1", confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleAfterHours, 1, "")
	e.record(t, ev(time.Date(2026, 10, 23, 16, 30, 0, 0, time.UTC), m, "chart.read", "p1", confidant.OutcomeOK)) // 19:30 EEST: open
	drain(t, d)
	wantRule(t, e.sink, RuleAfterHours, 1, "")
	e.record(t, ev(time.Date(2026, 10, 24, 9, 0, 0, 0, time.UTC), m, "chart.read", "p1", confidant.OutcomeOK)) // Saturday
	drain(t, d)
	wantRule(t, e.sink, RuleAfterHours, 2, "")
}

func TestHours(t *testing.T) {
	h, err := ParseHours("Mon-Fri 07:00-20:00, Sat 09:00-14:00, Sun-Mon 23:00-24:00")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, Helsinki)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for s, want := range map[string]bool{
		"2026-03-23 06:59": false, "2026-03-23 07:00": true, "2026-03-23 19:59": true, "2026-03-23 20:00": false,
		"2026-03-28 09:00": true, "2026-03-28 14:00": false, "2026-03-29 12:00": false, "2026-03-29 23:30": true,
		"2026-03-23 23:59": true, "2026-03-24 23:30": false,
	} {
		if got := h.Open(at(s)); got != want {
			t.Errorf("Open(%s) = %v, want %v", s, got, want)
		}
	}
	for _, bad := range []string{"", "Mon 07:00", "Xyz 07:00-20:00", "Mon 20:00-07:00", "Mon 07:00-25:00", "Mon 7:00-20:00", "Mon 07:60-20:00", "Mon-Fri 07:00-24:01"} {
		if _, err := ParseHours(bad); !confidant.IsKind(err, confidant.KindInvalid) {
			t.Errorf("ParseHours(%q) = %v, want KindInvalid", bad, err)
		}
	}
}

func FuzzParseHours(f *testing.F) {
	for _, s := range []string{DefaultHours, "Mon-Sun 00:00-24:00", "Sat 09:00-14:00, Fri-Mon 01:00-02:00", "mon 7", ",", "Mon-Fri 07:00-20:00,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHours(s)
		if err != nil {
			if !confidant.IsKind(err, confidant.KindInvalid) {
				t.Fatalf("ParseHours(%q): %v is not KindInvalid", s, err)
			}
			return
		}
		h.Open(time.Date(2026, 3, 29, 3, 30, 0, 0, Helsinki))
		if _, err := ParseHours(h.String()); err != nil {
			t.Fatalf("ParseHours(%q) accepted, its String %q refused: %v", s, h.String(), err)
		}
	})
}

func TestStaffClose(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	// A manager named like patient C (Virtanen), not like patient B.
	u, err := e.Service.OperatorCreateUser(context.Background(), service.StaffInput{
		Username: "anna", DisplayName: "Anna  VIRTANEN", Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID}, Password: testfix.Password,
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, u, "patient.read", e.PatientB.ID, confidant.OutcomeOK),
		ev(at, e.Manager, "patient.read", e.PatientC.ID, confidant.OutcomeOK), // another manager: silent
		ev(at, u, "patient.read", e.PatientC.ID, confidant.OutcomeDenied))     // refused: silent
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	e.record(t, ev(at, u, "patient.read", e.PatientC.ID, confidant.OutcomeOK), ev(at, u, "chart.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleStaffClose, 1, confidant.AlertHigh)[0]
	if a.ActorID != u.ID || !slices.Equal(a.PatientIDs, []string{e.PatientC.ID}) {
		t.Errorf("alert = %+v", a)
	}
	noNames(t, e.sink, e)
	if strings.Contains(strings.ToLower(a.Explanation), "virtanen") {
		t.Errorf("the explanation names the family: %q", a.Explanation)
	}
}

// TestStaffOwnRecord: a staff member with an identity code (stored as its
// blind index only) opening their own record as a patient.
func TestStaffOwnRecord(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	ctx := context.Background()
	for _, bad := range []service.StaffInput{
		{Username: "bad1", DisplayName: "Bad One", Role: confidant.RoleSecurity, Password: testfix.Password, IdentityCode: "010190-902X"},
		{Username: "bad2", DisplayName: "Bad Two", Role: confidant.RolePatient, PatientID: e.PatientB.ID, Password: testfix.Password, IdentityCode: "020285-903Y"},
	} {
		if _, err := e.Service.OperatorCreateUser(ctx, bad); !confidant.IsKind(err, confidant.KindInvalid) {
			t.Errorf("%s: %v, want KindInvalid", bad.Username, err)
		}
	}
	// Patient A's code, lower case and with spaces: normalised as a patient's.
	u, err := e.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "aino.staff", DisplayName: "Aino Staff", Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID},
		Password: testfix.Password, IdentityCode: " 010190-902s ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.IdentityCode != "" {
		t.Error("the created account carries its identity code back")
	}
	err = e.st.View(ctx, func(tx confidant.Tx) error {
		got, err := tx.User(ctx, u.ID)
		if err == nil && (len(got.IdentityIndex) == 0 || got.IdentityCode != "") {
			t.Errorf("stored: index %x, code %q", got.IdentityIndex, got.IdentityCode)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, u, "patient.read", e.PatientB.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	e.record(t, ev(at, u, "chart.read", e.PatientA.ID, confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleStaffClose, 1, confidant.AlertHigh)[0]
	if !strings.Contains(a.Explanation, "own identity code") || a.ActorID != u.ID {
		t.Errorf("alert: %+v", a)
	}
	noNames(t, e.sink, e)
}

// TestStaffSameAddress: a staff member whose address is given (at
// creation, or later on an existing account) opening the records of a
// patient living there, however either address is written; the address
// is compared as blind indexes and named nowhere.
func TestStaffSameAddress(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	ctx := context.Background()
	b := e.PatientB
	b.Address = "Hämeentie 3 B 7, 00530 Helsinki"
	if err := e.st.Update(ctx, func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, b) }); err != nil {
		t.Fatal(err)
	}
	kai, err := e.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "kai", DisplayName: "Kai Kotilainen", Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID},
		Password: testfix.Password, Address: "hämeentie 3 b 7   00530 HELSINKI.",
	})
	if err != nil {
		t.Fatal(err)
	}
	lea, err := e.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "lea", DisplayName: "Lea Laaksonen", Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID}, Password: testfix.Password,
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, kai, "chart.read", e.PatientC.ID, confidant.OutcomeOK), // another address
		ev(at, lea, "chart.read", b.ID, confidant.OutcomeOK)) // no address given: silent
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	e.record(t, ev(at, kai, "patient.read", b.ID, confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleStaffClose, 1, confidant.AlertHigh)[0]
	if a.ActorID != kai.ID || !slices.Equal(a.PatientIDs, []string{b.ID}) ||
		!strings.Contains(a.Explanation, "lives at the account holder's address") {
		t.Errorf("alert: %+v", a)
	}

	// An existing account given the address later (an account.update
	// event, which drops the detector's cached indexes).
	if _, err := e.Service.OperatorSetClose(ctx, lea.ID, service.CloseInput{Address: "HÄMEENTIE 3 B 7 00530 Helsinki"}); err != nil {
		t.Fatal(err)
	}
	e.record(t, ev(at, lea, "chart.read", b.ID, confidant.OutcomeOK))
	drain(t, d)
	got := wantRule(t, e.sink, RuleStaffClose, 2, confidant.AlertHigh)
	if !slices.ContainsFunc(got, func(a confidant.Alert) bool { return a.ActorID == lea.ID }) {
		t.Errorf("no alert for the account given the address later: %+v", got)
	}
	noNames(t, e.sink, e)
	for _, a := range e.sink.stored {
		if strings.Contains(strings.ToLower(a.Explanation), "meentie") {
			t.Errorf("the explanation names the address: %q", a.Explanation)
		}
	}
}

func TestHoneytoken(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	tokens := map[string]bool{}
	reads := 0
	d := e.detector(t, func(c *Config) {
		c.HoneytokenEvery = 1000 * time.Hour // only honeytoken.created refreshes
		c.Honeytokens = func(context.Context) (map[string]bool, error) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			return maps(tokens), nil
		}
	})
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, e.Manager, "patient.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleHoneytoken, 0, "")
	mu.Lock()
	tokens[e.PatientC.ID] = true // becomes a decoy (in the test: only the list changes)
	mu.Unlock()
	e.record(t, ev(at.Add(time.Minute), e.Security, actHoneytokenCreate, e.PatientC.ID, confidant.OutcomeOK),
		ev(at.Add(2*time.Minute), e.Manager, "patient.read", e.PatientC.ID, confidant.OutcomeDenied))
	drain(t, d)
	a := wantRule(t, e.sink, RuleHoneytoken, 1, confidant.AlertCritical) // the refused read, not the creation
	if a[0].ActorID != e.Manager.ID {
		t.Errorf("alert = %+v", a[0])
	}
	if reads != 2 {
		t.Errorf("honeytokens read %d times, want 2 (start, creation)", reads)
	}
	// The honeytokens cannot be read: the detector stops, fail closed.
	d2 := e.detector(t, func(c *Config) {
		c.Name = "other"
		c.Honeytokens = func(context.Context) (map[string]bool, error) { return nil, errors.New("down") }
	})
	if _, err := d2.Step(context.Background()); err == nil {
		t.Fatal("a step without honeytokens succeeded")
	}
	if next, _ := watermark(t, e.log, "other"); next != 0 {
		t.Fatalf("watermark advanced to %d without honeytokens", next)
	}
}

func maps(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestSearchThenOpen(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	th := e.Therapist
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, th, actSearchByName, "", confidant.OutcomeOK),
		ev(at.Add(2*time.Minute), th, "chart.read", e.PatientA.ID, confidant.OutcomeOK),  // in care: silent
		ev(at.Add(11*time.Minute), th, "chart.read", e.PatientC.ID, confidant.OutcomeOK)) // no care, 11 min later
	drain(t, d)
	wantRule(t, e.sink, RuleSearchThenOpen, 0, "")
	e.record(t, ev(at.Add(20*time.Minute), th, actSearchByName, "", confidant.OutcomeOK),
		ev(at.Add(29*time.Minute), th, "chart.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleSearchThenOpen, 1, confidant.AlertHigh)
	wantRule(t, e.sink, RuleNoCare, 2, confidant.AlertHigh)
}

func TestCounts(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, func(c *Config) {
		c.Rules.RefusalBurst, c.Rules.SigninFails, c.Rules.SigninAll, c.Rules.KeyUnwraps = 3, 2, 4, 5
	})
	at := time.Date(2026, 3, 23, 10, 0, 0, 0, time.UTC)
	first, _, err := e.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var evs []confidant.AuditEvent
	for i := range 3 { // at the limits: silent
		evs = append(evs, ev(at.Add(time.Duration(i)*time.Second), e.Manager, "chart.read", e.PatientC.ID, confidant.OutcomeDenied))
	}
	for i := range 2 {
		evs = append(evs, ev(at.Add(time.Duration(i)*time.Second), e.Manager, actLoginFailed, "", confidant.OutcomeDenied))
	}
	for i := range 2 {
		evs = append(evs, confidant.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Role: "?", Action: actLoginFailed, Outcome: confidant.OutcomeDenied})
	}
	for i := range 5 {
		evs = append(evs, confidant.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Role: "system", Action: confidant.ActionKeyUnwrap, Outcome: confidant.OutcomeOK, PatientID: e.PatientA.ID})
	}
	e.record(t, evs...)
	drain(t, d)
	for _, r := range []string{RuleRefusalBurst, RuleFailedSignins, RuleKeyUnwraps} {
		wantRule(t, e.sink, r, 0, "")
	}
	e.record(t,
		ev(at.Add(time.Minute), e.Manager, "chart.read", e.PatientC.ID, confidant.OutcomeDenied),
		ev(at.Add(time.Minute), e.Manager, actLoginFailed, "", confidant.OutcomeDenied),
		confidant.AuditEvent{Time: at.Add(time.Minute), Role: "system", Action: confidant.ActionKeyUnwrap, Outcome: confidant.OutcomeOK})
	drain(t, d)
	// Each covers its window from the window's first event (the 3
	// refusals, the 2 and 2 failures, the 5 unwraps were events first to
	// first+11) to the crossing one (first+12 to first+14).
	refused := wantRule(t, e.sink, RuleRefusalBurst, 1, confidant.AlertMedium)[0]
	unwraps := wantRule(t, e.sink, RuleKeyUnwraps, 1, confidant.AlertMedium)[0]
	f := wantRule(t, e.sink, RuleFailedSignins, 2, confidant.AlertMedium) // all accounts' 5th, and the account's 3rd
	if f[0].ActorID != "" || f[1].ActorID != e.Manager.ID {
		t.Errorf("failed sign-ins: %+v", f)
	}
	for _, c := range []struct {
		a           confidant.Alert
		first, last uint64
	}{{refused, first, first + 12}, {f[0], first + 3, first + 13}, {f[1], first + 3, first + 13}, {unwraps, first + 7, first + 14}} {
		if c.a.FirstIndex != c.first || c.a.LastIndex != c.last || c.a.From.After(at) {
			t.Errorf("%s (%s) covers events %d–%d from %v, want %d–%d", c.a.Rule, c.a.ActorID, c.a.FirstIndex, c.a.LastIndex, c.a.From, c.first, c.last)
		}
	}
	// Exports, new clients and forged facts raise at once.
	e.record(t, ev(at.Add(2*time.Minute), e.Manager, "patient.export", e.PatientC.ID, confidant.OutcomeOK),
		ev(at.Add(2*time.Minute), e.Manager, actLoginNewClient, "", confidant.OutcomeOK),
		confidant.AuditEvent{Time: at.Add(2 * time.Minute), Role: "system", Action: actFactForged, Outcome: confidant.OutcomeFailed, RecordID: confidant.NewID()})
	drain(t, d)
	wantRule(t, e.sink, RuleExport, 1, confidant.AlertMedium)
	wantRule(t, e.sink, RuleNewClient, 1, confidant.AlertLow)
	wantRule(t, e.sink, RuleIntegrity, 1, confidant.AlertCritical)
}

// TestCrashBeforeAdvance: the sink stores the alerts, then the step dies
// (the context is canceled) before the watermark moves. The next step
// processes the batch again and raises nothing new.
func TestCrashBeforeAdvance(t *testing.T) {
	e := newEnv(t)
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, e.Therapist, "chart.read", e.PatientC.ID, confidant.OutcomeOK),
		ev(at, e.Therapist, "chart.read", e.PatientB.ID, confidant.OutcomeOK))
	ctx, cancel := context.WithCancel(context.Background())
	e.sink.fail = func(call int) error {
		if call == 1 {
			cancel() // the alerts are stored; the process dies now
		}
		return nil
	}
	d := e.detector(t, nil)
	if _, err := d.Step(ctx); err == nil {
		t.Fatal("the step survived its cancellation")
	}
	if next, _ := watermark(t, e.log, "detector"); next != 0 {
		t.Fatalf("watermark = %d after the crash, want 0", next)
	}
	first := e.sink.keys()
	if len(first) != 2 {
		t.Fatalf("%d alerts stored before the crash, want 2", len(first))
	}
	// A restarted detector (and, separately, the same one) go on.
	drain(t, e.detector(t, nil))
	if got := e.sink.keys(); !slices.Equal(got, first) {
		t.Fatalf("keys after the rerun %v, want %v", got, first)
	}
	if e.sink.repeats != 2 {
		t.Errorf("the rerun raised %d alerts again, want the same 2 (idempotent by key)", e.sink.repeats)
	}
	// An error from the sink (outcome unknown) leaves the watermark too.
	e.record(t, ev(at.Add(time.Minute), e.Therapist, "chart.read", e.PatientC.ID, confidant.OutcomeOK))
	e.sink.fail = func(int) error { return errors.New("lost answer") }
	if _, err := d.Step(context.Background()); err == nil {
		t.Fatal("a failing sink did not fail the step")
	}
	e.sink.fail = nil
	drain(t, d)
	next, size := watermark(t, e.log, "detector")
	if next != size || len(e.sink.keys()) != 3 {
		t.Fatalf("watermark %d of %d, %d alerts", next, size, len(e.sink.keys()))
	}
}

// TestRestartRebuilds: a detector that starts after part of a window was
// processed by another rebuilds the window from the log.
func TestRestartRebuilds(t *testing.T) {
	e := newEnv(t)
	mod := func(c *Config) { c.Rules.VolumeHour = 5 }
	m := e.Manager
	at := time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		e.record(t, ev(at.Add(time.Duration(i)*time.Minute), m, "chart.read", fmt.Sprintf("p%d", i), confidant.OutcomeOK))
	}
	drain(t, e.detector(t, mod))
	wantRule(t, e.sink, RuleVolumeHour, 0, "")
	e.record(t, ev(at.Add(30*time.Minute), m, "chart.read", "p5", confidant.OutcomeOK))
	fresh := e.detector(t, mod) // a restart: nothing in memory
	drain(t, fresh)
	a := wantRule(t, e.sink, RuleVolumeHour, 1, "")[0]
	if len(a.PatientIDs) != 6 {
		t.Errorf("the rebuilt window has %d patients, want 6", len(a.PatientIDs))
	}
	// A detector whose watermark another advanced behind its back
	// rebuilds as well: the first one now sees the 7th patient of the
	// hour with the 6 before it (same key: nothing new).
	old := e.detector(t, mod)
	drain(t, old)
	e.record(t, ev(at.Add(31*time.Minute), m, "chart.read", "p6", confidant.OutcomeOK),
		ev(at.Add(time.Hour), m, "chart.read", "p7", confidant.OutcomeOK))
	drain(t, fresh)
	drain(t, old)
	if n := len(e.sink.byRule(RuleVolumeHour)); n != 1 {
		t.Errorf("%d volume_hour alerts, want 1", n)
	}
}

func TestRollback(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	drain(t, d)
	_, size := watermark(t, e.log, "detector")
	// The database is restored from a copy older than the watermark: here,
	// the watermark is put beyond the log's end.
	err := e.log.Update(context.Background(), func(tx confidant.SealedTx) error {
		ok, err := tx.AdvanceDetector(context.Background(), "detector", size, size+100, time.Now())
		if err == nil && !ok {
			err = errors.New("not advanced")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	a := wantRule(t, e.sink, RuleRollback, 1, confidant.AlertCritical)[0]
	if !strings.Contains(a.Explanation, fmt.Sprint(size+100)) {
		t.Errorf("explanation: %q", a.Explanation)
	}
	if next, sz := watermark(t, e.log, "detector"); next != sz {
		t.Fatalf("watermark %d, log size %d: the detector did not resume at the end", next, sz)
	}
	// It goes on with new events.
	e.record(t, ev(time.Now().UTC().Add(time.Hour), e.Therapist, "chart.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleNoCare, 1, confidant.AlertHigh)
}

func TestRaiseIntegrity(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	for range 2 {
		if err := d.RaiseIntegrity(context.Background(), "witness", "A witness signed a different log at size 10."); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RaiseIntegrity(context.Background(), "verify", "The log does not verify at index 3."); err != nil {
		t.Fatal(err)
	}
	wantRule(t, e.sink, RuleIntegrity, 2, confidant.AlertCritical)
}

// TestStaffColleague: a staff member opening the record of a patient who
// is another staff member (the colleague's account holds the patient's
// identity index); the colleague's own accounts created later are seen
// (account.create drops the cache).
func TestStaffColleague(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	ctx := context.Background()
	at := time.Now().UTC().Add(time.Hour)
	// Before patient B is known to be staff: silent.
	e.record(t, ev(at, e.Manager, "patient.read", e.PatientB.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	// Patient B works here (B's identity code on a therapist's account).
	colleague, err := e.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "bea.colleague", DisplayName: "Bea Colleague", Role: confidant.RoleTherapist, ClinicIDs: []string{e.ClinicA.ID},
		Password: testfix.Password, IdentityCode: e.PatientB.IdentityCode,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.record(t, ev(at, colleague, "account.create", "", confidant.OutcomeOK),
		ev(at, e.Manager, "patient.read", e.PatientC.ID, confidant.OutcomeOK),     // not staff: silent
		ev(at, e.Manager, "patient.read", e.PatientB.ID, confidant.OutcomeDenied)) // refused: silent
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	e.record(t, ev(at, e.Manager, "patient.read", e.PatientB.ID, confidant.OutcomeOK))
	drain(t, d)
	a := wantRule(t, e.sink, RuleStaffClose, 1, confidant.AlertHigh)[0]
	if !strings.Contains(a.Explanation, "colleague") || a.ActorID != e.Manager.ID || !slices.Equal(a.PatientIDs, []string{e.PatientB.ID}) {
		t.Errorf("alert: %+v", a)
	}
	// The colleague opening their own record is "own", not "colleague".
	e.record(t, ev(at, colleague, "patient.read", e.PatientB.ID, confidant.OutcomeOK))
	drain(t, d)
	own := wantRule(t, e.sink, RuleStaffClose, 2, confidant.AlertHigh)
	if !strings.Contains(own[1].Explanation, "own identity code") || own[1].ActorID != colleague.ID {
		t.Errorf("own record alert: %+v", own[1])
	}
	noNames(t, e.sink, e)
}

// TestStaffCloseRename: a staff member renamed through the service (an
// account.update event in the log) is compared under the new family name
// by a detector that has already cached the old one.
func TestStaffCloseRename(t *testing.T) {
	e := newEnv(t)
	d := e.detector(t, nil)
	ctx := context.Background()
	u, err := e.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "anna", DisplayName: "Anna Other", Role: confidant.RoleManager, ClinicIDs: []string{e.ClinicA.ID}, Password: testfix.Password,
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(time.Hour)
	e.record(t, ev(at, u, "patient.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 0, "")
	if _, err := e.Service.UpdateStaff(e.As(e.Manager), u.ID, service.StaffUpdate{DisplayName: "Anna " + e.PatientC.FamilyName, ClinicIDs: u.ClinicIDs}); err != nil {
		t.Fatal(err)
	}
	e.record(t, ev(at.Add(time.Minute), u, "chart.read", e.PatientC.ID, confidant.OutcomeOK))
	drain(t, d)
	wantRule(t, e.sink, RuleStaffClose, 1, confidant.AlertHigh)
}
