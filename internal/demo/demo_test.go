package demo

import (
	"context"
	"encoding/base32"
	"encoding/json"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/icd10"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// testNow is a fixed "now" so that runs are comparable.
var testNow = time.Date(2026, 3, 18, 12, 34, 56, 789000, time.UTC)

func openStore(t testing.TB) *seal.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "demo.db"), sqlite.Options{RelaxedSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return testfix.Seal(t, db, testfix.Keyring(t))
}

// small is a data set that exercises everything in a few seconds.
func small(seed uint64) Options {
	return Options{
		Seed: seed, Clinics: 7, Therapists: 24, Patients: 320, Months: 4, Now: testNow,
		BatchSize: 100, Hasher: password.NewTestHasher(),
	}
}

// dataset is what a test reads back from the store.
type dataset struct {
	users    []confidant.User
	patients []confidant.Patient
	care     map[string][]confidant.CareRelationship // by patient
	notes    map[string][]confidant.Note
	diag     map[string][]confidant.Diagnosis
	plans    map[string][]confidant.TreatmentPlan
	measures map[string][]confidant.Measure
	process  int
	decoys   []confidant.Patient // honeytokens (not in patients)
}

func readBack(t *testing.T, st confidant.Store) dataset {
	t.Helper()
	ctx := t.Context()
	d := dataset{
		care: map[string][]confidant.CareRelationship{}, notes: map[string][]confidant.Note{},
		diag: map[string][]confidant.Diagnosis{}, plans: map[string][]confidant.TreatmentPlan{},
		measures: map[string][]confidant.Measure{},
	}
	err := st.View(ctx, func(tx confidant.Tx) error {
		var err error
		if d.users, err = tx.ListUsers(ctx, confidant.UserFilter{}); err != nil {
			return err
		}
		all, err := tx.ListPatients(ctx, confidant.PatientFilter{})
		if err != nil {
			return err
		}
		for _, p := range all {
			decoy, err := tx.IsHoneytoken(ctx, p.ID)
			if err != nil {
				return err
			}
			if decoy {
				d.decoys = append(d.decoys, p)
			} else {
				d.patients = append(d.patients, p)
			}
		}
		for _, p := range d.patients {
			if d.care[p.ID], err = tx.ListCare(ctx, confidant.CareFilter{PatientID: p.ID}); err != nil {
				return err
			}
			if d.notes[p.ID], err = tx.ListNotes(ctx, p.ID, confidant.NoteFilter{}); err != nil {
				return err
			}
			if d.diag[p.ID], err = tx.ListDiagnoses(ctx, p.ID); err != nil {
				return err
			}
			if d.plans[p.ID], err = tx.ListPlans(ctx, p.ID); err != nil {
				return err
			}
			if d.measures[p.ID], err = tx.ListMeasures(ctx, p.ID); err != nil {
				return err
			}
			for _, c := range d.care[p.ID] {
				pn, err := tx.ListProcessNotes(ctx, p.ID, c.TherapistID)
				if err != nil {
					return err
				}
				d.process += len(pn)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGenerate(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	opt := small(1)
	var calls [][2]int
	logins, err := Generate(ctx, st, opt, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{100, 320}, {200, 320}, {300, 320}, {320, 320}}; !slices.Equal(calls, want) {
		t.Errorf("progress calls = %v, want %v", calls, want)
	}
	d := readBack(t, st)
	userByName := map[string]confidant.User{}
	userByID := map[string]confidant.User{}
	roles := map[confidant.Role]int{}
	for _, u := range d.users {
		userByName[u.Username] = u
		userByID[u.ID] = u
		roles[u.Role]++
	}

	t.Run("accounts", func(t *testing.T) {
		want := map[confidant.Role]int{confidant.RoleTherapist: 24, confidant.RoleManager: 2, confidant.RoleSecurity: 2, confidant.RolePatient: 1, confidant.RoleDPO: 1}
		if diff := cmp.Diff(want, roles); diff != "" {
			t.Errorf("accounts by role (-want +got):\n%s", diff)
		}
		h := password.NewTestHasher()
		for _, c := range []struct {
			cred Credential
			role confidant.Role
		}{{logins.Therapist, confidant.RoleTherapist}, {logins.Patient, confidant.RolePatient}, {logins.Manager, confidant.RoleManager}, {logins.Security, confidant.RoleSecurity}, {logins.DPO, confidant.RoleDPO}} {
			u, ok := userByName[c.cred.Username]
			if !ok || u.Role != c.role {
				t.Errorf("login %q: user %+v, want role %s", c.cred.Username, u.LogValue(), c.role)
				continue
			}
			if err := password.CheckPolicy(c.cred.Password); err != nil {
				t.Errorf("login %q: generated password fails the policy: %v", c.cred.Username, err)
			}
			if ok, _, err := h.Verify(ctx, c.cred.Password, u.PasswordHash); !ok || err != nil {
				t.Errorf("login %q: password does not verify: %v %v", c.cred.Username, ok, err)
			}
		}
		pws := map[string]bool{logins.Therapist.Password: true, logins.Patient.Password: true, logins.Manager.Password: true, logins.Security.Password: true, logins.DPO.Password: true}
		if len(pws) != 5 {
			t.Error("the five demo logins do not have five different passwords")
		}
		for _, u := range d.users {
			if u.Username != strings.ToLower(u.Username) || len(u.Username) < 3 || strings.Trim(u.Username, "abcdefghijklmnopqrstuvwxyz0123456789._-@") != "" {
				t.Errorf("username %q is not a valid lower-case username", u.Username)
			}
			demoLogin := map[confidant.Role]string{confidant.RoleTherapist: TherapistUsername, confidant.RoleManager: ManagerUsername, confidant.RoleSecurity: SecurityUsername, confidant.RolePatient: PatientUsername, confidant.RoleDPO: DPOUsername}[u.Role]
			if u.PasswordHash != userByName[demoLogin].PasswordHash {
				t.Errorf("%s does not share the password of %q", u.Username, demoLogin)
			}
		}
	})

	t.Run("second factors", func(t *testing.T) {
		secrets := map[confidant.Role]string{confidant.RoleTherapist: logins.Therapist.TOTPSecret,
			confidant.RoleManager: logins.Manager.TOTPSecret, confidant.RoleSecurity: logins.Security.TOTPSecret, confidant.RoleDPO: logins.DPO.TOTPSecret}
		if logins.Patient.TOTPSecret != "" || len(secrets[confidant.RoleTherapist]) != 32 {
			t.Fatalf("TOTP secrets in the logins: patient %v, therapist %d characters", logins.Patient.TOTPSecret != "", len(secrets[confidant.RoleTherapist]))
		}
		err := st.View(ctx, func(tx confidant.Tx) error {
			for _, u := range d.users {
				st, err := tx.TOTP(ctx, u.ID)
				if u.Role == confidant.RolePatient {
					if !confidant.IsKind(err, confidant.KindNotFound) {
						t.Errorf("patient account %s has a second factor: %v", u.Username, err)
					}
					continue
				}
				if err != nil {
					return err
				}
				got := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(st.Secret)
				if !st.Enrolled() || got != secrets[u.Role] || st.Pending != nil {
					t.Errorf("%s: enrolled %v, the %s secret of the logins %v", u.Username, st.Enrolled(), u.Role, got == secrets[u.Role])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	therapist := userByName[TherapistUsername]
	patientUser := userByName[PatientUsername]
	t.Run("demo therapist", func(t *testing.T) {
		var n int
		err := st.View(ctx, func(tx confidant.Tx) error {
			ps, err := tx.ListPatientsForTherapist(ctx, therapist.ID, testNow, confidant.PatientFilter{})
			n = len(ps)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != DemoTherapistPatients {
			t.Errorf("demo therapist has %d active patients, want %d", n, DemoTherapistPatients)
		}
		manager := userByName[ManagerUsername]
		if len(therapist.ClinicIDs) != 1 || !slices.Contains(manager.ClinicIDs, therapist.ClinicIDs[0]) {
			t.Errorf("demo manager's clinics %v do not include the demo therapist's %v", manager.ClinicIDs, therapist.ClinicIDs)
		}
	})

	t.Run("demo patient", func(t *testing.T) {
		var active bool
		var released []confidant.Note
		err := st.View(ctx, func(tx confidant.Tx) error {
			var err error
			if active, err = tx.HasActiveCare(ctx, therapist.ID, patientUser.PatientID, testNow); err != nil {
				return err
			}
			released, err = tx.ListNotes(ctx, patientUser.PatientID, confidant.NoteFilter{ReleasedOnly: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !active {
			t.Error("demo patient is not in active care with the demo therapist")
		}
		if len(released) < 5 {
			t.Errorf("demo patient has %d released notes, want several", len(released))
		}
		if len(d.measures[patientUser.PatientID]) < 6 {
			t.Errorf("demo patient has %d measures", len(d.measures[patientUser.PatientID]))
		}
	})

	// The accounts table is not sealed: no patient's account may hold a
	// patient's name in its username or display name. (Staff accounts hold
	// staff names, which may share a family name with a patient by chance.)
	t.Run("no patient names in accounts", func(t *testing.T) {
		for _, p := range d.patients {
			for _, u := range d.users {
				if u.Role != confidant.RolePatient {
					continue
				}
				for _, f := range []string{u.Username, u.DisplayName} {
					lf := strings.ToLower(f)
					if strings.Contains(lf, strings.ToLower(p.FamilyName)) || strings.Contains(lf, strings.ToLower(p.Name())) {
						t.Errorf("account %s (%s) holds the name of patient %s", u.ID, u.Role, p.ID)
					}
				}
			}
		}
		if patientUser.DisplayName == "" {
			t.Error("the demo patient's account has no display name")
		}
	})

	t.Run("patients", func(t *testing.T) {
		if len(d.patients) != opt.Patients {
			t.Fatalf("%d patients, want %d", len(d.patients), opt.Patients)
		}
		checkIdentityCodes(t, d.patients)
		for _, p := range d.patients {
			if !strings.HasSuffix(p.Email, "@example.invalid") || !strings.HasPrefix(p.Phone, "+358 ") || p.Address == "" {
				t.Errorf("patient %s: contact details %q %q %q", p.ID, p.Phone, p.Email, p.Address)
			}
			care := d.care[p.ID]
			if len(care) == 0 {
				t.Errorf("patient %s has no care relationship", p.ID)
			}
			for _, c := range care {
				th := userByID[c.TherapistID]
				if th.Role != confidant.RoleTherapist || !slices.Contains(th.ClinicIDs, p.ClinicID) || c.ClinicID != p.ClinicID {
					t.Errorf("patient %s: care with %s outside the patient's clinic", p.ID, th.Username)
				}
			}
		}
	})

	// Decoy patients: DemoHoneytokens of them, in different clinics,
	// plausible, in nobody's care, and no generated event touches them.
	t.Run("honeytokens", func(t *testing.T) {
		if len(d.decoys) != DemoHoneytokens {
			t.Fatalf("%d decoys, want %d", len(d.decoys), DemoHoneytokens)
		}
		clinics := map[string]bool{}
		for _, p := range d.decoys {
			clinics[p.ClinicID] = true
			if _, _, err := confidant.ParseIdentityCode(p.IdentityCode); err != nil || p.GivenName == "" || p.FamilyName == "" {
				t.Errorf("decoy %s: %q %v", p.ID, p.Name(), err)
			}
			if len(d.care[p.ID]) != 0 {
				t.Errorf("decoy %s has care relationships", p.ID)
			}
		}
		if len(clinics) != DemoHoneytokens {
			t.Errorf("decoys in %d clinics, want %d", len(clinics), DemoHoneytokens)
		}
		checkIdentityCodes(t, append(slices.Clone(d.patients), d.decoys...))
		evs, err := testfix.Log(st).Query(ctx, confidant.EventFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		created := 0
		for before := uint64(0); ; {
			for _, e := range evs {
				for _, p := range d.decoys {
					if e.PatientID == p.ID || e.RecordID == p.ID {
						t.Errorf("event %d (%s) names decoy %s", e.Index, e.Action, p.ID)
					}
				}
				if e.Action == service.ActHoneytokenCreate {
					created++
				}
				before = e.Index
			}
			if len(evs) < 1000 || before == 0 {
				break
			}
			if evs, err = testfix.Log(st).Query(ctx, confidant.EventFilter{Limit: 1000, Before: before}); err != nil {
				t.Fatal(err)
			}
		}
		if created != DemoHoneytokens {
			t.Errorf("%d honeytoken.created events, want %d", created, DemoHoneytokens)
		}
	})

	t.Run("records", func(t *testing.T) {
		var ended, second, notes, drafts, amended, released, measures int
		for _, p := range d.patients {
			care := d.care[p.ID]
			if len(care) > 1 {
				second++
			}
			if !care[0].To.IsZero() {
				ended++
			}
			ds := d.diag[p.ID]
			if len(ds) < 1 || len(ds) > 2 {
				t.Errorf("patient %s has %d diagnoses", p.ID, len(ds))
			}
			for _, dg := range ds {
				c, ok := icd10.Lookup(dg.Code)
				if !ok || c.Title != dg.Title || c.Code != dg.Code {
					t.Errorf("diagnosis %s %q is not on the code list", dg.Code, dg.Title)
				}
			}
			if len(d.plans[p.ID]) == 0 {
				t.Errorf("patient %s has no treatment plan", p.ID)
			}
			for _, m := range d.measures[p.ID] {
				measures++
				score, sev, err := m.Instrument.Score(m.Answers)
				if err != nil || score != m.Score || sev != m.Severity {
					t.Errorf("measure %s: stored %d %s, computed %d %s %v", m.ID, m.Score, m.Severity, score, sev, err)
				}
			}
			for i, n := range d.notes[p.ID] {
				notes++
				for j, v := range n.Versions {
					if l := len(v.Body); l < minNoteLen || l > maxNoteLen || !utf8.ValidString(v.Body) || strings.ContainsAny(v.Body, "{}") {
						t.Errorf("note %s v%d: body of %d bytes or with a placeholder:\n%s", n.ID, v.Version, l, v.Body)
					}
					if !v.Template.Valid() {
						t.Errorf("note %s: template %q", n.ID, v.Template)
					}
					if v.Status == confidant.NoteDraft && j != len(n.Versions)-1 {
						t.Errorf("note %s: draft that is not the current version", n.ID)
					}
					if j > 0 && v.Reason == "" {
						t.Errorf("note %s: amendment without a reason", n.ID)
					}
				}
				if len(n.Versions) > 1 {
					amended++
				}
				if n.Status() == confidant.NoteDraft {
					drafts++
					if i != 0 {
						t.Errorf("patient %s: a draft that is not the latest note", p.ID)
					}
				}
				if n.Released() {
					released++
					if _, ok := n.LatestSigned(); !ok {
						t.Errorf("note %s released but never signed", n.ID)
					}
				}
				inCare := slices.ContainsFunc(care, func(c confidant.CareRelationship) bool {
					return c.TherapistID == n.AuthorID && c.ActiveAt(n.SessionAt)
				})
				if !inCare {
					t.Errorf("note %s written outside the author's care relationship", n.ID)
				}
				if !n.SessionAt.Before(testNow) || n.CreatedAt.After(testNow) {
					t.Errorf("note %s in the future", n.ID)
				}
			}
		}
		t.Logf("%d patients: %d ended, %d with two therapists, %d notes (%d drafts, %d amended, %d released), %d measures, %d process notes",
			len(d.patients), ended, second, notes, drafts, amended, released, measures, d.process)
		within := func(name string, got, lo, hi int) {
			t.Helper()
			if got < lo || got > hi {
				t.Errorf("%s = %d, want between %d and %d", name, got, lo, hi)
			}
		}
		within("ended care", ended, 15, 60) // about 10% of 320
		within("second therapist", second, 4, 35)
		within("notes per patient ×10", notes*10/len(d.patients), 50, 200)
		within("drafts", drafts, 1, notes/10)
		within("amended", amended, 1, notes/10)
		within("released", released, notes/20, notes/2)
		within("process notes", d.process, 10, 150)
	})
}

func checkIdentityCodes(t *testing.T, ps []confidant.Patient) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range ps {
		code, birth, err := confidant.ParseIdentityCode(p.IdentityCode)
		if err != nil || code != p.IdentityCode {
			t.Errorf("patient %s: identity code invalid: %v", p.ID, err)
			continue
		}
		if seen[code] {
			t.Errorf("identity code of patient %s is not unique", p.ID)
		}
		seen[code] = true
		if !birth.Equal(p.BirthDate) || birth.Year() < 1950 || birth.Year() > 2006 {
			t.Errorf("patient %s: birth date %v, code says %v", p.ID, p.BirthDate, birth)
		}
		if ind := code[7:10]; ind < "900" || ind > "999" {
			t.Errorf("patient %s: individual number %s outside 900-999", p.ID, ind)
		}
	}
}

// summary is the content of a data set that must not depend on anything but
// the seed: names, identity codes, clinics and note texts.
func summary(t *testing.T, st confidant.Store) []string {
	t.Helper()
	d := readBack(t, st)
	clinicName := map[string]string{}
	err := st.View(t.Context(), func(tx confidant.Tx) error {
		cs, err := tx.ListClinics(t.Context())
		for _, c := range cs {
			clinicName[c.ID] = c.Name
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.patients {
		s := p.IdentityCode + " " + p.Name() + " " + clinicName[p.ClinicID] + " " + p.Address
		for _, n := range d.notes[p.ID] {
			s += "|" + n.Current().Body
		}
		for _, m := range d.measures[p.ID] {
			s += "|" + m.Severity
		}
		out = append(out, s)
	}
	for _, u := range d.users {
		out = append(out, u.Username+" "+u.DisplayName+" "+string(u.Role))
	}
	slices.Sort(out)
	return out
}

func TestDeterministic(t *testing.T) {
	opt := small(42)
	opt.Patients, opt.Therapists, opt.Months = 60, 10, 2
	run := func() []string {
		st := openStore(t)
		if _, err := Generate(t.Context(), st, opt, nil); err != nil {
			t.Fatal(err)
		}
		return summary(t, st)
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("same seed, different data (-first +second):\n%.2000s", diff)
	}

	// Another seed gives other people.
	names := func(seed uint64) []string {
		o := opt
		o.Seed = seed
		g := newGenerator(o.withDefaults(), nil)
		var out []string
		for i := range o.Patients {
			p := g.patient(i).patient
			out = append(out, p.Name()+" "+p.IdentityCode)
		}
		return out
	}
	a, b := names(42), names(43)
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 share %d of %d patients", same, len(a))
	}
}

func TestRefusesNonEmptyStore(t *testing.T) {
	st := openStore(t)
	opt := small(1)
	opt.Patients, opt.Therapists = 25, 3
	if _, err := Generate(t.Context(), st, opt, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(t.Context(), st, opt, nil)
	if !confidant.IsKind(err, confidant.KindConflict) {
		t.Errorf("second Generate: err = %v, want KindConflict", err)
	}
}

func TestOptions(t *testing.T) {
	bad := []Options{
		{Clinics: len(cities) + 1},
		{Clinics: -1},
		{Therapists: -1},
		{Patients: 1_000_001},
		{Months: 61},
		{Passwords: Passwords{Therapist: "short"}},
		{Passwords: Passwords{Security: "short"}},
		{Now: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, o := range bad {
		if err := o.withDefaults().Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", o)
		}
	}
	o := Options{}.withDefaults()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Clinics != 25 || o.Therapists != 150 || o.Patients != 3000 || o.Months != 6 || o.BatchSize != 500 {
		t.Errorf("defaults = %+v", o)
	}
}

func TestGivenPasswordsAndTinySet(t *testing.T) {
	st := openStore(t)
	opt := Options{
		Seed: 7, Clinics: 1, Therapists: 1, Patients: 3, Months: 1, Now: testNow,
		Hasher: password.NewTestHasher(),
		Passwords: Passwords{Therapist: "therapist password 1", Patient: "patient password 2",
			Manager: "manager password 3", Security: "security password 4", DPO: "dpo password 5"},
	}
	li, err := Generate(t.Context(), st, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Staff have random TOTP secrets (base32 of 160 bits); the patient none.
	for _, c := range []*Credential{&li.Therapist, &li.Manager, &li.Security, &li.DPO} {
		if len(c.TOTPSecret) != 32 || strings.Trim(c.TOTPSecret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Errorf("%s: TOTP secret of %d characters", c.Username, len(c.TOTPSecret))
		}
		c.TOTPSecret = ""
	}
	want := Logins{
		Therapist:  Credential{"therapist", "therapist password 1", ""},
		Patient:    Credential{"patient", "patient password 2", ""},
		Manager:    Credential{"manager", "manager password 3", ""},
		Security:   Credential{"security", "security password 4", ""},
		DPO:        Credential{"dpo", "dpo password 5", ""},
		Therapists: []string{"therapist"},
	}
	if diff := cmp.Diff(want, li); diff != "" {
		t.Errorf("logins (-want +got):\n%s", diff)
	}
	d := readBack(t, st)
	if len(d.patients) != 3 {
		t.Errorf("%d patients, want 3", len(d.patients))
	}
}

func TestLoginsJSON(t *testing.T) {
	li := Logins{
		Therapist: Credential{"therapist", "a", "JBSWY3DPEHPK3PXP"}, Patient: Credential{"patient", "b", ""},
		Manager: Credential{"manager", "c", "KRSXG5CTMVRXEZLU"}, Security: Credential{"security", "d", "MFRGGZDFMZTWQ2LK"},
		DPO: Credential{"dpo", "e", "GEZDGNBVGY3TQOJQ"}, Therapists: []string{"therapist", "t.korhonen"},
	}
	b, err := json.Marshal(li)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"therapist":{"username":"therapist","password":"a","totp_secret":"JBSWY3DPEHPK3PXP"},"patient":{"username":"patient","password":"b"},"manager":{"username":"manager","password":"c","totp_secret":"KRSXG5CTMVRXEZLU"},"security":{"username":"security","password":"d","totp_secret":"MFRGGZDFMZTWQ2LK"},"dpo":{"username":"dpo","password":"e","totp_secret":"GEZDGNBVGY3TQOJQ"},"therapists":["therapist","t.korhonen"]}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
	var back Logins
	if err := json.Unmarshal(b, &back); err != nil || !cmp.Equal(back, li) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestWordLists(t *testing.T) {
	for name, list := range map[string][]string{"female": femaleNames, "male": maleNames, "family": familyNames, "streets": streets} {
		seen := map[string]bool{}
		for _, s := range list {
			if seen[s] {
				t.Errorf("%s: %q twice", name, s)
			}
			seen[s] = true
			if fold(s) == "" {
				t.Errorf("%s: %q folds to nothing", name, s)
			}
		}
	}
	if len(femaleNames) < 100 || len(maleNames) < 100 || len(familyNames) < 150 {
		t.Errorf("name lists too short: %d female, %d male, %d family", len(femaleNames), len(maleNames), len(familyNames))
	}
	if got := fold("Mäkelä-Sjöberg Å"); got != "makelasjoberga" {
		t.Errorf("fold = %q", got)
	}
	for _, d := range append(append([]diagnosisChoice(nil), primaryDiagnoses...), secondaryDiagnoses...) {
		if _, ok := icd10.Lookup(d.code); !ok {
			t.Errorf("diagnosis %s is not on the ICD-10 list", d.code)
		}
	}
}

func newRand(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, 0)) }

// TestSentencePools expands every sentence of every pool and checks that no
// placeholder is left.
func TestSentencePools(t *testing.T) {
	w := &writer{rng: newRand(1), given: "Aino", female: true, mood: 5, session: 3}
	pools := [][]string{openings, intakeOpenings, checkIns, generalInterventions, presentations, responses,
		progressAssessments, riskStatements, homeworks, nextSessions, intakeContent, endingContent, processNotes,
		amendReasons, addenda, item9Statements, persons, protective, diagnosisNotes, generalGoals, sessionFormats}
	for _, m := range []map[theme][]string{themeSentences, interventions, planGoals, planInterventions} {
		for th := themeDepression; th <= themeOther; th++ {
			if len(m[th]) == 0 {
				t.Errorf("theme %d has no sentences in a pool", th)
			}
			pools = append(pools, m[th])
		}
	}
	for _, pool := range pools {
		for _, s := range pool {
			for range 3 {
				if got := w.expand(s); strings.ContainsAny(got, "{}") {
					t.Errorf("%q expands to %q", s, got)
				}
			}
		}
	}
	for _, tmpl := range confidant.Templates {
		w.template = tmpl
		for i := range 200 {
			body := w.note(noteInput{session: i + 1, intake: i%50 == 0, ending: i%60 == 59, item9: i%7 == 0, measures: "PHQ-9 5 (mild) and GAD-7 4 (minimal) completed."})
			if len(body) < minNoteLen || len(body) > maxNoteLen {
				t.Fatalf("%s note of %d bytes", tmpl, len(body))
			}
			if sk := tmpl.Skeleton(); sk != "" && !strings.HasPrefix(body, strings.SplitN(sk, "\n", 2)[0]) {
				t.Fatalf("%s note does not follow its template:\n%s", tmpl, body)
			}
		}
	}
}

// BenchmarkGenerateDefault seeds the default data set (3000 patients) into
// a fresh SQLite database per iteration. Run with -benchtime=1x.
func BenchmarkGenerateDefault(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		st := openStore(b)
		b.StartTimer()
		if _, err := Generate(b.Context(), st, Options{Seed: 1, Hasher: password.NewTestHasher()}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
