package detect

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Helsinki on machines without a zone database

	confidant "github.com/confidanthealth/confidant"
)

// Rule names (Alert.Rule).
const (
	RuleNoCare         = "no_care"
	RuleVolumeHour     = "volume_hour"
	RuleVolumeDay      = "volume_day"
	RuleVolumeRise     = "volume_rise"
	RuleAfterHours     = "after_hours"
	RuleStaffClose     = "staff_close"
	RuleHoneytoken     = "honeytoken"
	RuleSearchThenOpen = "search_then_open"
	RuleRefusalBurst   = "refusal_burst"
	RuleFailedSignins  = "failed_signins"
	RuleNewClient      = "new_client"
	RuleKeyUnwraps     = "key_unwraps"
	RuleExport         = "export"
)

// Actions the rules read. They are the access log's action names
// (internal/service/audit.go); the detector does not import the service.
const (
	actBreakGlass       = "patient.break_glass"
	actSearchByName     = "patients.search.name"
	actLoginFailed      = "login.failed"
	actLoginNewClient   = "login.new_client"
	actFactForged       = "integrity.fact_forged"
	actHoneytokenCreate = "honeytoken.created"
)

// RuleInfo describes a rule: its name, its severity and a plain
// explanation of what it looks for, shown with every alert it raises.
type RuleInfo struct {
	Name     string
	Severity confidant.AlertSeverity
	About    string
}

// Catalog lists the rules (docs/INCIDENTS.md, "Detection rules"). no_care
// raises medium alerts for break-the-glass uses and high ones otherwise.
var Catalog = []RuleInfo{
	{RuleNoCare, confidant.AlertHigh, "A therapist read or changed a patient's records without an active care relationship at that time. Every use of break-the-glass emergency access is raised too, at medium severity, so that it is reviewed."},
	{RuleVolumeHour, confidant.AlertMedium, "An account opened the records of more different patients within one clock hour than the limit: normal work touches a few patients an hour; a copy of many charts does not look like that."},
	{RuleVolumeDay, confidant.AlertMedium, "An account opened the records of more different patients within one day (Helsinki time) than the limit."},
	{RuleVolumeRise, confidant.AlertMedium, "An account opened the records of many more different patients today than on any day of the previous two weeks: a sudden change in how an account is used."},
	{RuleAfterHours, confidant.AlertLow, "An account opened patient records outside the clinic's opening hours (Helsinki time)."},
	{RuleStaffClose, confidant.AlertHigh, "A staff member opened their own record as a patient (the same identity code), a colleague's record (a patient whose identity code is another staff account's), or the records of a patient with the same family name or living at the same address: perhaps a relative or someone of their household. Codes, names and addresses are compared through their keyed blind indexes, never in the clear; a rare match of different names is possible."},
	{RuleHoneytoken, confidant.AlertCritical, "Someone accessed a decoy patient, a record that no legitimate work ever touches."},
	{RuleSearchThenOpen, confidant.AlertHigh, "An account searched for a patient by name and then, within minutes, opened the records of a patient it has no care relationship with: looking someone up."},
	{RuleRefusalBurst, confidant.AlertMedium, "An account was refused many times within a few minutes: probing for records it may not see."},
	{RuleFailedSignins, confidant.AlertMedium, "Many sign-ins failed within a few minutes, for one account or for all accounts together: password guessing."},
	{RuleNewClient, confidant.AlertLow, "An account signed in from a device or address it had never signed in from."},
	{RuleKeyUnwraps, confidant.AlertMedium, "Many patient keys were unwrapped within one hour: keys are unwrapped when records are read that are not in the key cache, so a mass read shows here even when it is spread over accounts."},
	{RuleExport, confidant.AlertMedium, "Patient data was exported. Every export is raised for review."},
	{RuleIntegrity, confidant.AlertCritical, "A check of the access log or of the records failed: the log or the database was altered, rolled back or does not match what was published."},
	{RuleRollback, confidant.AlertCritical, "The access log is shorter than the part the detector had already examined: the database was restored from an older copy or events were removed."},
}

func about(rule string) string {
	for _, r := range Catalog {
		if r.Name == rule {
			return r.About
		}
	}
	return ""
}

// Rules are the thresholds of the rules. Zero fields take the defaults.
type Rules struct {
	VolumeHour int     // more distinct patients than this in a clock hour: volume_hour; default 40
	VolumeDay  int     // ... in a day (Helsinki): volume_day; default 120
	RiseFactor float64 // volume_rise: today's distinct patients above RiseFactor × the most of the previous RiseDays days; default 3
	RiseFloor  int     // ... and at least this many; default 30
	RiseDays   int     // default 14
	// Hours are the opening hours (after_hours), for every clinic not in
	// ClinicHours; default Mon–Fri 07:00–20:00 Europe/Helsinki.
	Hours        *Hours
	ClinicHours  map[string]*Hours
	SearchWindow time.Duration // search_then_open: default 10 min
	RefusalBurst int           // more refusals than this in a RefusalWindow: default 20
	RefusalSpan  time.Duration // default 10 min
	SigninFails  int           // more failed sign-ins of one account than this in a SigninSpan: default 10
	SigninAll    int           // more failed sign-ins of all accounts together: default 100
	SigninSpan   time.Duration // default 15 min
	KeyUnwraps   int           // more key unwraps than this in a clock hour: default 5000
}

// Helsinki is the time zone of days and opening hours.
var Helsinki = mustZone("Europe/Helsinki")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}

func (r Rules) withDefaults() (Rules, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&r.VolumeHour, 40)
	def(&r.VolumeDay, 120)
	def(&r.RiseFloor, 30)
	def(&r.RiseDays, 14)
	def(&r.RefusalBurst, 20)
	def(&r.SigninFails, 10)
	def(&r.SigninAll, 100)
	def(&r.KeyUnwraps, 5000)
	if r.RiseFactor == 0 {
		r.RiseFactor = 3
	}
	if r.SearchWindow == 0 {
		r.SearchWindow = 10 * time.Minute
	}
	if r.RefusalSpan == 0 {
		r.RefusalSpan = 10 * time.Minute
	}
	if r.SigninSpan == 0 {
		r.SigninSpan = 15 * time.Minute
	}
	if r.Hours == nil {
		h, err := ParseHours(DefaultHours)
		if err != nil {
			return r, err
		}
		r.Hours = h
	}
	for _, v := range []int{r.VolumeHour, r.VolumeDay, r.RiseFloor, r.RiseDays, r.RefusalBurst, r.SigninFails, r.SigninAll, r.KeyUnwraps} {
		if v < 0 {
			return r, fmt.Errorf("detect: thresholds must be positive")
		}
	}
	if r.RiseFactor < 1 || r.SearchWindow < 0 || r.RefusalSpan < 0 || r.SigninSpan < 0 {
		return r, fmt.Errorf("detect: the rise factor must be at least 1 and spans positive")
	}
	return r, nil
}

// longest is how far back in time the rule state reaches.
func (r *Rules) longest() time.Duration {
	return time.Duration(r.RiseDays+2) * 24 * time.Hour
}

// DefaultHours are the default opening hours.
const DefaultHours = "Mon-Fri 07:00-20:00"

// Hours are opening hours in Helsinki time: for each weekday, the minutes
// since midnight of the spans the clinic is open.
type Hours struct {
	text  string
	spans [7][][2]int // by time.Weekday: [open, close) in minutes
}

func (h *Hours) String() string { return h.text }

// Open reports whether t falls within the opening hours (in Helsinki time,
// daylight saving included).
func (h *Hours) Open(t time.Time) bool {
	l := t.In(Helsinki)
	m := l.Hour()*60 + l.Minute()
	for _, s := range h.spans[l.Weekday()] {
		if m >= s[0] && m < s[1] {
			return true
		}
	}
	return false
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseHours parses opening hours: comma-separated spans of a day or a
// range of days and a time range, "Mon-Fri 07:00-20:00, Sat 09:00-14:00"
// (English day abbreviations, 24-hour times, 24:00 for midnight at the
// end). A day not named is closed.
func ParseHours(s string) (*Hours, error) {
	bad := func(why string) error {
		return confidant.Errorf(confidant.KindInvalid, "invalid_hours", "Opening hours are like %q: %s.", DefaultHours, why)
	}
	if len(s) > 500 {
		return nil, bad("too long")
	}
	h := &Hours{text: strings.TrimSpace(s)}
	any := false
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return nil, bad("each span is days and a time range")
		}
		first, last, ok := strings.Cut(strings.ToLower(f[0]), "-")
		if !ok {
			last = first
		}
		d1, d2 := dayIndex(first), dayIndex(last)
		if d1 < 0 || d2 < 0 {
			return nil, bad("days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
		}
		from, to, ok := strings.Cut(f[1], "-")
		if !ok {
			return nil, bad("a time range is like 07:00-20:00")
		}
		m1, err1 := minutes(from)
		m2, err2 := minutes(to)
		if err1 != nil || err2 != nil || m1 >= m2 {
			return nil, bad("a time range is like 07:00-20:00, the start before the end")
		}
		for d := d1; ; d = (d + 1) % 7 {
			h.spans[d] = append(h.spans[d], [2]int{m1, m2})
			any = true
			if d == d2 {
				break
			}
		}
	}
	if !any {
		return nil, bad("no span")
	}
	return h, nil
}

func dayIndex(s string) int {
	for i, d := range weekdays {
		if s == d {
			return i
		}
	}
	return -1
}

func minutes(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, fmt.Errorf("bad time")
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time")
	}
	return h*60 + m, nil
}

// recordAccess reports whether an action reads or changes a patient's
// records (chart, notes, diagnoses, plans, measures, attachments,
// demographics). The demo's synthetic history uses some names of its own
// (patient.read_demographics, process_note.read), covered by the prefixes.
func recordAccess(action string) bool {
	for _, p := range []string{"chart.", "note.", "notes.", "process_note.", "process_notes.", "diagnosis.", "plan.",
		"measure.", "attachment.", "patient.read"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// reads reports whether a record access only reads (chart, notes,
// attachments, demographics).
func reads(action string) bool {
	return strings.HasSuffix(action, ".read") || strings.HasSuffix(action, ".download") || strings.HasPrefix(action, "patient.read")
}

// exported reports whether an action exports patient data (no export
// exists yet; docs/INCIDENTS.md).
func exported(action string) bool {
	return strings.HasPrefix(action, "export.") || strings.HasPrefix(action, "patient.export")
}

// staff reports whether a role is a staff member's.
func staff(role string) bool {
	switch confidant.Role(role) {
	case confidant.RoleTherapist, confidant.RoleManager, confidant.RoleSecurity, confidant.RoleDPO:
		return true
	}
	return false
}

// state is the rules' memory: counts per account and window.
type state struct {
	r        *Rules
	accounts map[string]*account
	unwraps  tallies // by hour
	failsAll tallies // by SigninSpan
	// Caches of storage lookups, dropped with the state.
	care    map[string]map[string][]confidant.CareRelationship // patient → therapist → relationships
	staffIx map[string]indexes                                 // staff account → its indexes
	staffBy map[string]string                                  // identity index → staff account with it (nil: not loaded)
	pindex  map[string]indexes                                 // patient → its indexes
}

type account struct {
	hours      map[int64]*seen // hour → patients
	days       map[int64]*seen // Helsinki day → patients
	rose       map[int64]bool  // days volume_rise was raised
	late       map[int64]bool  // days after_hours was raised
	denied     tallies
	fails      tallies
	lastSearch time.Time
}

// seen are the distinct patients of a window, and its first event (an
// alert covers the window from it).
type seen struct {
	patients map[string]struct{}
	first    time.Time
	index    uint64
}

// tallies count events per window (by its start), each with its first
// event's log position.
type tallies map[int64]tally

type tally struct {
	n     int
	first uint64
}

// add counts e in window b and returns the count and the window's first
// event; the map is then pruned to cap windows, keeping those within keep
// of the newest.
func (t tallies) add(b int64, e *event, cap int, keep int64) tally {
	w := t[b]
	if w.n == 0 {
		w.first = e.index
	}
	w.n++
	t[b] = w
	prune(t, cap, keep)
	return w
}

// counted is the alert of a counting rule whose window [b, b+span) went
// past limit with e: text is a format of the count, the window's start
// and end, and the limit.
func counted(rule, actor, clinic string, e *event, w tally, b int64, span time.Duration, limit int, text string) confidant.Alert {
	return confidant.Alert{Rule: rule, Severity: confidant.AlertMedium, ActorID: actor, ClinicID: clinic,
		Explanation: fmt.Sprintf(text, w.n, clock(time.Unix(b, 0)), clock(time.Unix(b, 0).Add(span)), limit),
		From:        time.Unix(b, 0).UTC(), To: e.at, FirstIndex: w.first, LastIndex: e.index,
		Key: countedKey(rule, actor, b)}
}

// countedKey is a counting alert's key: per account, or for all ("*");
// key_unwraps counts only for all and has no account part.
func countedKey(rule, actor string, b int64) string {
	if rule == RuleKeyUnwraps {
		return fmt.Sprintf("%s|%d", rule, b)
	}
	return fmt.Sprintf("%s|%s|%d", rule, cmp.Or(actor, "*"), b)
}

func newState(r *Rules) *state {
	return &state{r: r, accounts: map[string]*account{}, unwraps: tallies{}, failsAll: tallies{},
		care: map[string]map[string][]confidant.CareRelationship{}, staffIx: map[string]indexes{}, pindex: map[string]indexes{}}
}

func (s *state) account(id string) *account {
	a := s.accounts[id]
	if a == nil {
		a = &account{hours: map[int64]*seen{}, days: map[int64]*seen{},
			rose: map[int64]bool{}, late: map[int64]bool{}, denied: tallies{}, fails: tallies{}}
		s.accounts[id] = a
	}
	return a
}

// see adds e's patient to the window b of m (made if new, then pruned to
// cap windows within keep of the newest) and reports whether it is new
// in it.
func see(m map[int64]*seen, b int64, e *event, cap int, keep int64) (*seen, bool) {
	w := m[b]
	if w == nil {
		w = &seen{patients: map[string]struct{}{}, first: e.at, index: e.index}
		m[b] = w
		prune(m, cap, keep)
	}
	if _, ok := w.patients[e.patient]; ok {
		return w, false
	}
	w.patients[e.patient] = struct{}{}
	return w, true
}

// bucket is the start of the span-long window t falls in, in seconds.
func bucket(t time.Time, span time.Duration) int64 {
	sec := int64(span / time.Second)
	u := t.Unix()
	return u - ((u%sec)+sec)%sec
}

// dayOf numbers Helsinki days.
func dayOf(t time.Time) int64 {
	l := t.In(Helsinki)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// prune keeps a per-account map small: past cap keys, the keys more than
// keep below the largest go (the log's times may go back and forth a
// little between servers, and a lot in imported history).
func prune[V any](m map[int64]V, cap int, keep int64) {
	if len(m) <= cap {
		return
	}
	var max int64
	first := true
	for k := range m {
		if first || k > max {
			max, first = k, false
		}
	}
	for k := range m {
		if k < max-keep {
			delete(m, k)
		}
	}
	if len(m) > cap { // still too many: keep the newest half
		ks := make([]int64, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
		for _, k := range ks[:len(ks)/2] {
			delete(m, k)
		}
	}
}

// finding is an alert before finish.
type emitFn func(confidant.Alert)

// replay updates the state with events already processed, raising nothing.
func (s *state) replay(evs []event) {
	for i := range evs {
		s.observe(&evs[i], func(confidant.Alert) {})
	}
}

// observe applies the event to the windowed rules and emits what crosses
// a threshold. It reads no storage, so that a replay rebuilds exactly the
// state processing left.
func (s *state) observe(e *event, emit emitFn) {
	r := s.r
	switch {
	case e.action == confidant.ActionKeyUnwrap:
		h := bucket(e.at, time.Hour)
		if w := s.unwraps.add(h, e, 96, 48*3600); w.n == r.KeyUnwraps+1 {
			emit(counted(RuleKeyUnwraps, "", "", e, w, h, time.Hour, r.KeyUnwraps,
				"%d patient keys were unwrapped between %s and %s, more than the limit of %d an hour."))
		}
		return
	case e.action == actLoginFailed:
		b := bucket(e.at, r.SigninSpan)
		keep := int64(48 * time.Hour / time.Second)
		if w := s.failsAll.add(b, e, 256, keep); w.n == r.SigninAll+1 {
			emit(counted(RuleFailedSignins, "", "", e, w, b, r.SigninSpan, r.SigninAll,
				"%d sign-ins failed, for all accounts together, between %s and %s, more than the limit of %d."))
		}
		if e.actor != "" {
			if w := s.account(e.actor).fails.add(b, e, 64, keep); w.n == r.SigninFails+1 {
				emit(counted(RuleFailedSignins, e.actor, e.clinic, e, w, b, r.SigninSpan, r.SigninFails,
					"%d sign-ins of this account failed between %s and %s, more than the limit of %d."))
			}
		}
		return
	}
	if e.actor == "" {
		return
	}
	if e.outcome == confidant.OutcomeDenied {
		b := bucket(e.at, r.RefusalSpan)
		if w := s.account(e.actor).denied.add(b, e, 64, int64(48*time.Hour/time.Second)); w.n == r.RefusalBurst+1 {
			emit(counted(RuleRefusalBurst, e.actor, e.clinic, e, w, b, r.RefusalSpan, r.RefusalBurst,
				"This account was refused %d times between %s and %s, more than the limit of %d."))
		}
		return
	}
	if e.outcome != confidant.OutcomeOK {
		return
	}
	if e.action == actSearchByName {
		s.account(e.actor).lastSearch = e.at
		return
	}
	if e.patient == "" || !staff(e.role) || !recordAccess(e.action) {
		return
	}
	a := s.account(e.actor)
	// volume_hour
	h := bucket(e.at, time.Hour)
	if hs, isNew := see(a.hours, h, e, 1024, 48*3600); isNew && len(hs.patients) == r.VolumeHour+1 {
		emit(confidant.Alert{Rule: RuleVolumeHour, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs: sortedKeys(hs.patients),
			Explanation: fmt.Sprintf("This account opened the records of %d different patients between %s and %s, more than the limit of %d an hour.",
				len(hs.patients), clock(time.Unix(h, 0)), clock(time.Unix(h, 0).Add(time.Hour)), r.VolumeHour),
			From: time.Unix(h, 0).UTC(), To: e.at, FirstIndex: hs.index, LastIndex: e.index,
			Key: fmt.Sprintf("%s|%s|%d", RuleVolumeHour, e.actor, h)})
	}
	// volume_day and volume_rise, from the day's first record access.
	day := dayOf(e.at)
	if len(a.days) > 2*r.RiseDays+8 {
		prune(a.rose, 2*r.RiseDays+8, int64(r.RiseDays+2))
		prune(a.late, 2*r.RiseDays+8, int64(r.RiseDays+2))
	}
	if ds, isNew := see(a.days, day, e, 2*r.RiseDays+8, int64(r.RiseDays+2)); isNew {
		n := len(ds.patients)
		if n == r.VolumeDay+1 {
			emit(confidant.Alert{Rule: RuleVolumeDay, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
				PatientIDs: sortedKeys(ds.patients),
				Explanation: fmt.Sprintf("This account opened the records of %d different patients on %s (Helsinki time), more than the limit of %d a day.",
					n, e.at.In(Helsinki).Format("Mon 2 Jan 2006"), r.VolumeDay),
				From: ds.first, To: e.at, FirstIndex: ds.index, LastIndex: e.index,
				Key: fmt.Sprintf("%s|%s|%d", RuleVolumeDay, e.actor, day)})
		}
		if !a.rose[day] && n >= r.RiseFloor {
			most := 0
			for d := day - int64(r.RiseDays); d < day; d++ {
				if w := a.days[d]; w != nil {
					most = max(most, len(w.patients))
				}
			}
			if most > 0 && float64(n) > r.RiseFactor*float64(most) {
				a.rose[day] = true
				emit(confidant.Alert{Rule: RuleVolumeRise, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
					PatientIDs: sortedKeys(ds.patients),
					Explanation: fmt.Sprintf("This account opened the records of %d different patients on %s (Helsinki time); on no day of the previous %d did it open more than %d. "+
						"The limit is %.3g times that, and at least %d.", n, e.at.In(Helsinki).Format("Mon 2 Jan 2006"), r.RiseDays, most, r.RiseFactor, r.RiseFloor),
					From: ds.first, To: e.at, FirstIndex: ds.index, LastIndex: e.index,
					Key: fmt.Sprintf("%s|%s|%d", RuleVolumeRise, e.actor, day)})
			}
		}
	}
	// after_hours: reads only (a note signed in the evening is the
	// therapist's own work; what a breach looks like is reading).
	if !reads(e.action) {
		return
	}
	hours := r.Hours
	if ch := r.ClinicHours[e.clinic]; ch != nil {
		hours = ch
	}
	if !a.late[day] && !hours.Open(e.at) {
		a.late[day] = true
		emit(confidant.Alert{Rule: RuleAfterHours, Severity: confidant.AlertLow, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs: []string{e.patient},
			Explanation: fmt.Sprintf("This account opened patient records at %s (Helsinki time), outside the opening hours (%s). Later accesses that day are not raised again.",
				e.at.In(Helsinki).Format("15:04 on Mon 2 Jan 2006"), hours),
			From: e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index,
			Key: fmt.Sprintf("%s|%s|%d", RuleAfterHours, e.actor, day)})
	}
}

func clock(t time.Time) string {
	return t.In(Helsinki).Format("15:04 on Mon 2 Jan 2006") + " (Helsinki time)"
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lookups are the storage reads of the rules that need them, in the
// transactions of one batch.
type lookups struct {
	ctx context.Context
	tx  confidant.Tx       // the sealing store: authenticated facts
	raw confidant.SealedTx // the database: blind indexes
}

// check applies the rules that look things up in storage (or in the
// honeytokens) to one event.
func (d *Detector) check(lk lookups, e *event, emit emitFn) error {
	s := d.st
	switch {
	case e.action == actFactForged:
		emit(confidant.Alert{Rule: RuleIntegrity, Severity: confidant.AlertCritical,
			Explanation: "A row of authorization facts (an account, a care relationship or an emergency grant) failed its integrity check and was treated as absent: " +
				"someone with access to the database changed it. " + about(RuleIntegrity),
			From: e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|fact_forged|%d", RuleIntegrity, e.index)})
		return nil
	case strings.HasPrefix(e.action, "care.") && e.patient != "":
		delete(s.care, e.patient)
	case strings.HasPrefix(e.action, "patient.") && e.action != "patient.read" && e.patient != "":
		// A patient created, erased or (later) changed: their indexes are
		// read again when next compared.
		delete(s.pindex, e.patient)
	case e.action == "account.update" || e.action == "account.create":
		clear(s.staffIx) // a display name or an identity code may have changed
		s.staffBy = nil
	}
	// Any event about a decoy, also a refused one; not the key unwraps
	// (the system's, following a read that is itself an event) nor the
	// honeytoken's own management (honeytoken.*).
	if e.patient != "" && d.tokens[e.patient] && e.role != "system" && !strings.HasPrefix(e.action, "honeytoken.") {
		h := bucket(e.at, time.Hour)
		emit(confidant.Alert{Rule: RuleHoneytoken, Severity: confidant.AlertCritical, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs:  []string{e.patient},
			Explanation: fmt.Sprintf("This account accessed a decoy patient (outcome: %s). %s", e.outcome, about(RuleHoneytoken)),
			From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index,
			Key: fmt.Sprintf("%s|%s|%s|%d", RuleHoneytoken, e.actor, e.patient, h)})
	}
	if e.outcome != confidant.OutcomeOK || e.actor == "" {
		return nil
	}
	switch {
	case e.action == actLoginNewClient:
		emit(confidant.Alert{Rule: RuleNewClient, Severity: confidant.AlertLow, ActorID: e.actor, ClinicID: e.clinic,
			Explanation: "This account signed in from a client (address and browser) it had not signed in from before.",
			From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|%d", RuleNewClient, e.index)})
		return nil
	case exported(e.action):
		emit(confidant.Alert{Rule: RuleExport, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs:  nonEmpty(e.patient),
			Explanation: "This account exported patient data. " + about(RuleExport),
			From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|%d", RuleExport, e.index)})
		return nil
	case e.action == actBreakGlass && e.patient != "":
		grant := e.record
		if grant == "" {
			grant = strconv.FormatUint(e.index, 10)
		}
		emit(confidant.Alert{Rule: RuleNoCare, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs:  []string{e.patient},
			Explanation: "This account took break-the-glass emergency access to a patient it has no care relationship with. Every emergency access is raised for review.",
			From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|grant|%s", RuleNoCare, grant)})
		return nil
	}
	if e.patient == "" || !staff(e.role) || !recordAccess(e.action) {
		return nil
	}
	if confidant.Role(e.role) == confidant.RoleTherapist {
		care, err := d.inCare(lk, e)
		if err != nil {
			return err
		}
		if !care {
			g, err := lk.tx.ActiveBreakGlass(lk.ctx, e.actor, e.patient, e.at)
			if err != nil {
				return fmt.Errorf("detect: emergency grant: %w", err)
			}
			if g.ID != "" {
				emit(confidant.Alert{Rule: RuleNoCare, Severity: confidant.AlertMedium, ActorID: e.actor, ClinicID: e.clinic,
					PatientIDs:  []string{e.patient},
					Explanation: "This account opened the records of a patient it has no care relationship with, under a break-the-glass emergency grant. Every emergency access is raised for review.",
					From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|grant|%s", RuleNoCare, g.ID)})
			} else {
				emit(confidant.Alert{Rule: RuleNoCare, Severity: confidant.AlertHigh, ActorID: e.actor, ClinicID: e.clinic,
					PatientIDs:  []string{e.patient},
					Explanation: "This account read or changed the records of a patient it had no care relationship with at that time, and no emergency grant. " + about(RuleNoCare),
					From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|%s|%d", RuleNoCare, e.actor, e.index)})
			}
			if last := s.account(e.actor).lastSearch; !last.IsZero() && !e.at.Before(last) && e.at.Sub(last) <= d.cfg.Rules.SearchWindow {
				emit(confidant.Alert{Rule: RuleSearchThenOpen, Severity: confidant.AlertHigh, ActorID: e.actor, ClinicID: e.clinic,
					PatientIDs: []string{e.patient},
					Explanation: fmt.Sprintf("This account searched for a patient by name and %s later opened the records of a patient it has no care relationship with (the window is %s). %s",
						e.at.Sub(last).Round(time.Second), d.cfg.Rules.SearchWindow, about(RuleSearchThenOpen)),
					From: last, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|%s|%d", RuleSearchThenOpen, e.actor, e.index)})
			}
		}
	}
	match, err := d.close(lk, e)
	if err != nil {
		return err
	}
	if match != "" {
		why := "This account opened the records of a patient whose family name is the same as the account holder's. "
		switch match {
		case "identity":
			why = "This account opened the records of a patient with the account holder's own identity code: their own record, as a patient. "
		case "colleague":
			why = "This account opened the records of a patient who is also a member of staff here (their identity code is a staff account's): a colleague's record. "
		case "address":
			why = "This account opened the records of a patient who lives at the account holder's address. "
		}
		emit(confidant.Alert{Rule: RuleStaffClose, Severity: confidant.AlertHigh, ActorID: e.actor, ClinicID: e.clinic,
			PatientIDs:  []string{e.patient},
			Explanation: why + about(RuleStaffClose),
			From:        e.at, To: e.at, FirstIndex: e.index, LastIndex: e.index, Key: fmt.Sprintf("%s|%s|%s", RuleStaffClose, e.actor, e.patient)})
	}
	return nil
}

// indexes are the blind indexes staff_close compares (empty: none).
type indexes struct{ family, identity, address []byte }

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// inCare reports whether the event's therapist had an authenticated care
// relationship with its patient at its time (cached per pair; dropped
// when the patient's care changes in the log).
func (d *Detector) inCare(lk lookups, e *event) (bool, error) {
	s := d.st
	byT := s.care[e.patient]
	cs, ok := byT[e.actor]
	if !ok {
		var err error
		cs, err = lk.tx.ListCare(lk.ctx, confidant.CareFilter{PatientID: e.patient, TherapistID: e.actor})
		if err != nil {
			return false, fmt.Errorf("detect: care: %w", err)
		}
		if len(s.care) > 100_000 {
			clear(s.care)
		}
		if byT == nil {
			byT = map[string][]confidant.CareRelationship{}
			s.care[e.patient] = byT
		}
		byT[e.actor] = cs
	}
	for _, c := range cs {
		if c.ActiveAt(e.at) {
			return true, nil
		}
	}
	return false, nil
}

// close compares the staff member's blind indexes with the patient's
// stored ones: the identity code (a staff account's, given by the
// operator; "identity"), then the patient's identity index with every
// other staff account's (the patient is a colleague; "colleague"), then
// the family name (the last word of the display name, "Given Family",
// indexed with the key of patient search; "family"), then the home
// address (given by the operator; "address").
func (d *Detector) close(lk lookups, e *event) (string, error) {
	s := d.st
	mine, ok := s.staffIx[e.actor]
	if !ok {
		u, err := lk.tx.User(lk.ctx, e.actor)
		switch {
		case confidant.IsKind(err, confidant.KindNotFound):
		case err != nil:
			return "", fmt.Errorf("detect: account: %w", err)
		default:
			mine.identity, mine.address = u.IdentityIndex, u.AddressIndex
			if f := strings.Fields(u.DisplayName); len(f) >= 2 && d.cfg.Surname != nil {
				if mine.family, err = d.cfg.Surname(f[len(f)-1]); err != nil {
					return "", fmt.Errorf("detect: blind index: %w", err)
				}
			}
		}
		s.staffIx[e.actor] = mine
	}
	if s.staffBy == nil {
		us, err := lk.tx.ListUsers(lk.ctx, confidant.UserFilter{})
		if err != nil {
			return "", fmt.Errorf("detect: accounts: %w", err)
		}
		s.staffBy = map[string]string{}
		for _, u := range us {
			if len(u.IdentityIndex) > 0 && staff(string(u.Role)) {
				s.staffBy[string(u.IdentityIndex)] = u.ID
			}
		}
	}
	if len(mine.identity) == 0 && len(mine.family) == 0 && len(mine.address) == 0 && len(s.staffBy) == 0 {
		return "", nil
	}
	theirs, ok := s.pindex[e.patient]
	if !ok {
		p, err := lk.raw.Patient(lk.ctx, e.patient)
		switch {
		case confidant.IsKind(err, confidant.KindNotFound):
		case err != nil:
			return "", fmt.Errorf("detect: patient index: %w", err)
		default:
			theirs = indexes{family: p.SurnameIndex, identity: p.IdentityIndex, address: p.AddressIndex}
		}
		if len(s.pindex) > 200_000 {
			clear(s.pindex)
		}
		s.pindex[e.patient] = theirs
	}
	switch {
	case len(mine.identity) > 0 && bytes.Equal(mine.identity, theirs.identity):
		return "identity", nil
	case len(theirs.identity) > 0 && s.staffBy[string(theirs.identity)] != "":
		return "colleague", nil
	case len(mine.family) > 0 && bytes.Equal(mine.family, theirs.family):
		return "family", nil
	case len(mine.address) > 0 && bytes.Equal(mine.address, theirs.address):
		return "address", nil
	}
	return "", nil
}

// process runs every rule over a batch and returns the alerts, one per key.
func (d *Detector) process(ctx context.Context, evs []event) ([]confidant.Alert, error) {
	var out []confidant.Alert
	seen := map[string]bool{}
	emit := func(a confidant.Alert) {
		if seen[a.Key] {
			return
		}
		seen[a.Key] = true
		if a.Rule != RuleIntegrity && !strings.Contains(a.Explanation, about(a.Rule)) {
			a.Explanation += " " + about(a.Rule)
		}
		out = append(out, d.finish(a))
	}
	err := d.backend.View(ctx, func(raw confidant.SealedTx) error {
		return d.store.View(ctx, func(tx confidant.Tx) error {
			lk := lookups{ctx: ctx, tx: tx, raw: raw}
			for i := range evs {
				e := &evs[i]
				if e.action == actHoneytokenCreate && e.outcome == confidant.OutcomeOK {
					if err := d.refreshTokens(ctx, true); err != nil {
						return err
					}
				}
				d.st.observe(e, emit)
				if err := d.check(lk, e, emit); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
