// Package demo fills an empty store with synthetic data for demonstrations,
// manual testing and load tests: one organisation, clinics in Finnish cities,
// therapists, clinic managers, security officers and a few thousand patients
// with care relationships, session notes, diagnoses, treatment plans,
// outcome measures and private process notes.
//
// Everything is invented. Identity codes use the individual numbers 900-999,
// the range reserved for temporary codes, so they cannot belong to real
// people; phone numbers are random and e-mail addresses are under
// example.invalid. The content is deterministic for a given Seed and Now
// (record ids are random).
package demo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
)

// Hasher makes the password hashes stored for the demo accounts;
// *password.Hasher implements it.
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
}

// Options configure Generate. The zero value gives the default data set.
type Options struct {
	Seed       uint64    // content is a function of Seed and Now
	Clinics    int       // 0: 25; at most 30 (one per city)
	Therapists int       // 0: 150
	Patients   int       // 0: 3000
	Months     int       // months of session notes before Now; 0: 6
	Now        time.Time // zero: time.Now()
	BatchSize  int       // patients per transaction; 0: 500

	// Passwords of the demo logins; empty ones are generated with
	// crypto/rand on each run. Every other generated staff account shares
	// the password of the demo login with its role.
	Passwords Passwords
	// Hasher hashes the four passwords; nil: password.New with the default
	// (production) parameters.
	Hasher Hasher
}

// Passwords are the passwords of the demo logins, by role.
type Passwords struct {
	Therapist, Patient, Manager, Security, DPO string
}

// Defaults for Options.
const (
	DefaultClinics    = 25
	DefaultTherapists = 150
	DefaultPatients   = 3000
	DefaultMonths     = 6
	DefaultBatchSize  = 500

	// DemoTherapistPatients is the number of patients in active care with the
	// demo therapist (when there are that many patients).
	DemoTherapistPatients = 20
)

func (o Options) withDefaults() Options {
	o.Clinics = cmp.Or(o.Clinics, DefaultClinics)
	o.Therapists = cmp.Or(o.Therapists, DefaultTherapists)
	o.Patients = cmp.Or(o.Patients, DefaultPatients)
	o.Months = cmp.Or(o.Months, DefaultMonths)
	o.BatchSize = cmp.Or(o.BatchSize, DefaultBatchSize)
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Microsecond)
	return o
}

// Validate reports whether the options (after defaults) can be used.
func (o Options) Validate() error {
	switch {
	case o.Clinics < 1 || o.Clinics > len(cities):
		return fmt.Errorf("demo: Clinics must be between 1 and %d", len(cities))
	case o.Therapists < 1 || o.Therapists > 100_000:
		return fmt.Errorf("demo: Therapists must be between 1 and 100000")
	case o.Patients < 1 || o.Patients > 1_000_000:
		return fmt.Errorf("demo: Patients must be between 1 and 1000000")
	case o.Months < 1 || o.Months > 60:
		return fmt.Errorf("demo: Months must be between 1 and 60")
	case o.Now.Year() < 2008:
		return fmt.Errorf("demo: Now must be after 2007, when the youngest patients were born")
	case o.BatchSize < 1:
		return fmt.Errorf("demo: BatchSize must be positive")
	}
	for _, pw := range []string{o.Passwords.Therapist, o.Passwords.Patient, o.Passwords.Manager, o.Passwords.Security, o.Passwords.DPO} {
		if pw != "" && password.CheckPolicy(pw) != nil {
			return fmt.Errorf("demo: a given password does not meet the password policy")
		}
	}
	return nil
}

// Credential is a username and password for signing in, and for staff the
// TOTP secret of the second factor (base32; SHA-1, 6 digits, 30 s), which
// scripts feed to any TOTP generator (oathtool --totp -b SECRET) or an
// authenticator app.
type Credential struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret,omitempty"`
}

// Logins are the sign-ins of the demo accounts. The demo therapist has
// DemoTherapistPatients patients in active care, among them the demo patient,
// who has several notes released to them; the demo manager manages the
// demo therapist's clinic.
type Logins struct {
	Therapist Credential `json:"therapist"`
	Patient   Credential `json:"patient"`
	Manager   Credential `json:"manager"`
	Security  Credential `json:"security"`
	DPO       Credential `json:"dpo"` // the data protection officer
	// Therapists are the usernames of every generated therapist, the demo
	// therapist first, in the order they were generated. They all sign in
	// with Therapist.Password (see Options.Passwords) and a code of
	// Therapist.TOTPSecret; some may have no patients in active care.
	Therapists []string `json:"therapists,omitempty"`
}

// Usernames of the demo accounts.
const (
	TherapistUsername = "therapist"
	PatientUsername   = "patient"
	ManagerUsername   = "manager"
	SecurityUsername  = "security"
	DPOUsername       = "dpo"
)

// OrganisationName is the name of the generated organisation.
const OrganisationName = "Mielenterveyspalvelut Oy (demo)"

// Generate fills st, which must not yet have an organisation, with synthetic
// data and returns the demo sign-ins. Staff and clinics are written in one
// transaction, then patients with all their records in transactions of
// BatchSize patients; progress, if not nil, is called after each with the
// number of patients written and the total. On error, the batches already
// committed stay.
func Generate(ctx context.Context, st confidant.Store, opt Options, progress func(done, total int)) (Logins, error) {
	opt = opt.withDefaults()
	if err := opt.Validate(); err != nil {
		return Logins{}, err
	}
	err := st.View(ctx, func(tx confidant.Tx) error {
		_, err := tx.Organisation(ctx)
		return err
	})
	switch {
	case err == nil:
		return Logins{}, confidant.Errorf(confidant.KindConflict, "not_empty", "The database already has an organisation; demo data goes only into an empty one.")
	case !confidant.IsKind(err, confidant.KindNotFound):
		return Logins{}, fmt.Errorf("demo: %w", err)
	}

	pw := map[confidant.Role]string{
		confidant.RoleTherapist: cmp.Or(opt.Passwords.Therapist, randomPassword()),
		confidant.RolePatient:   cmp.Or(opt.Passwords.Patient, randomPassword()),
		confidant.RoleManager:   cmp.Or(opt.Passwords.Manager, randomPassword()),
		confidant.RoleSecurity:  cmp.Or(opt.Passwords.Security, randomPassword()),
		confidant.RoleDPO:       cmp.Or(opt.Passwords.DPO, randomPassword()),
	}
	h := opt.Hasher
	if h == nil {
		ph, err := password.New(password.Config{})
		if err != nil {
			return Logins{}, err
		}
		h = ph
	}
	// argon2id is slow on purpose (about 0.1 s per hash), so hashing per
	// account would dominate the run. Each of the four passwords is hashed
	// once and the hash is reused for every generated account of that role:
	// all therapists share one salt and hash, all managers another. That is
	// acceptable only because the data is synthetic; real accounts each get
	// their own salt and hash.
	hashes := make(map[confidant.Role]string, len(pw))
	for _, role := range confidant.Roles {
		hash, err := h.Hash(ctx, pw[role])
		if err != nil {
			return Logins{}, fmt.Errorf("demo: hash: %w", err)
		}
		hashes[role] = hash
	}

	g := newGenerator(opt, hashes)
	g.totp = newTOTPSecrets()
	if err := st.Update(ctx, func(tx confidant.Tx) error { return g.writeOrganisation(ctx, tx) }); err != nil {
		return Logins{}, fmt.Errorf("demo: organisation and staff: %w", err)
	}
	for start := 0; start < opt.Patients; start += opt.BatchSize {
		end := min(start+opt.BatchSize, opt.Patients)
		recs := make([]patientRecords, 0, end-start)
		for i := start; i < end; i++ {
			recs = append(recs, g.patient(i))
		}
		// Each record's writes are in the access log, as the service would
		// have recorded them, with the digests of what was stored (so that
		// `confidant audit verify --records` confirms the demo's records).
		err := st.Update(ctx, func(tx confidant.Tx) error {
			if err := writePatients(ctx, tx, recs); err != nil {
				return err
			}
			for k, r := range recs {
				for _, ev := range g.history(start+k, r, 0) {
					if _, ok := recordActions[ev.Action]; !ok {
						continue
					}
					if err := tx.Audit(ev); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return Logins{}, fmt.Errorf("demo: patients %d-%d: %w", start+1, end, err)
		}
		if progress != nil {
			progress(end, opt.Patients)
		}
	}
	// Decoy patients last (their identity codes avoid every code handed
	// out): no generated history touches them.
	if err := st.Update(ctx, func(tx confidant.Tx) error { return g.writeHoneytokens(ctx, tx) }); err != nil {
		return Logins{}, fmt.Errorf("demo: honeytokens: %w", err)
	}
	return g.logins(pw), nil
}

// DemoHoneytokens is the number of decoy patients the demo makes, each in
// another clinic (as far as there are clinics).
const DemoHoneytokens = 3

// writeHoneytokens makes DemoHoneytokens decoy patients in different
// clinics, made by the first security officer, each with its
// honeytoken.created event (which names no patient).
func (g *generator) writeHoneytokens(ctx context.Context, tx confidant.Tx) error {
	if len(g.security) == 0 || len(g.clinics) == 0 {
		return nil
	}
	by := g.security[0]
	for i := range DemoHoneytokens {
		c := g.clinics[i%len(g.clinics)]
		at := g.now.Add(-time.Duration(i+1) * 24 * time.Hour)
		h, _, err := service.CreateHoneytokenTx(ctx, tx, c.ID, by.ID, at)
		if err != nil {
			return err
		}
		if err := tx.Audit(confidant.AuditEvent{Time: at, ActorID: by.ID, Role: by.Role, ClinicID: c.ID,
			Action: service.ActHoneytokenCreate, RecordID: h.ID, Outcome: confidant.OutcomeOK}); err != nil {
			return err
		}
	}
	return nil
}

// logins returns the sign-ins of the demo accounts with the passwords pw
// and the usernames of all therapists.
func (g *generator) logins(pw map[confidant.Role]string) Logins {
	li := Logins{
		Therapist: Credential{TherapistUsername, pw[confidant.RoleTherapist], g.totpSecret(confidant.RoleTherapist)},
		Patient:   Credential{PatientUsername, pw[confidant.RolePatient], ""},
		Manager:   Credential{ManagerUsername, pw[confidant.RoleManager], g.totpSecret(confidant.RoleManager)},
		Security:  Credential{SecurityUsername, pw[confidant.RoleSecurity], g.totpSecret(confidant.RoleSecurity)},
		DPO:       Credential{DPOUsername, pw[confidant.RoleDPO], g.totpSecret(confidant.RoleDPO)},
	}
	for _, t := range g.therapists {
		li.Therapists = append(li.Therapists, t.user.Username)
	}
	return li
}

// randomPassword returns 20 random base32 characters in groups of four
// (100 bits), e.g. "K7QM-2XWD-...".
func randomPassword() string {
	t := rand.Text()[:20]
	return t[0:4] + "-" + t[4:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20]
}

// generator holds the organisation-wide plan; patients are generated from
// it one by one.
type generator struct {
	opt         Options
	now         time.Time
	windowStart time.Time                 // start of the period with session notes
	hashes      map[confidant.Role]string // password hash of every account, by role
	// totp holds the TOTP secret of every staff account, by role: like the
	// passwords, one per role (synthetic data only); nil: no enrolment.
	totp map[confidant.Role][]byte

	org        confidant.Organisation
	clinics    []confidant.Clinic
	clinicCity []city
	therapists []therapist
	byClinic   [][]int // clinic index -> therapist indices
	managers   []confidant.User
	managerOf  []int // clinic index -> manager index
	security   []confidant.User
	dpo        []confidant.User
	usernames  map[string]bool
	codes      map[string]bool // identity codes handed out

	// Set by the Seeder (zero for the demo): derived ids, a fixed number of
	// notes per patient and note lengths.
	ids              *idSource
	notesPer         int
	noteMin, noteMax int
}

type therapist struct {
	user     confidant.User
	clinic   int
	template confidant.NoteTemplate // preferred note template
}

// staffStream and patientStream separate the random streams, so that
// patient i is the same whatever the staff plan consumed.
const (
	staffStream   = 0x5eed0001
	dpoStream     = 0x5eed0002 // its own stream: adding the DPO changed no other generated account
	patientStream = 0x5eed1000_00000000
)

func newGenerator(opt Options, hashes map[confidant.Role]string) *generator {
	return newGeneratorWith(opt, hashes, nil)
}

// newGeneratorWith is newGenerator with derived ids when ids is not nil.
func newGeneratorWith(opt Options, hashes map[confidant.Role]string, ids *idSource) *generator {
	g := &generator{
		ids:         ids,
		opt:         opt,
		now:         opt.Now,
		windowStart: opt.Now.AddDate(0, -opt.Months, 0),
		hashes:      hashes,
		usernames:   make(map[string]bool),
		codes:       make(map[string]bool),
	}
	for _, u := range []string{TherapistUsername, PatientUsername, ManagerUsername, SecurityUsername, DPOUsername} {
		g.usernames[u] = true
	}
	rng := mrand.New(mrand.NewPCG(opt.Seed, staffStream))
	founded := g.now.AddDate(-3, 0, 0).Truncate(24 * time.Hour)
	g.org = confidant.Organisation{ID: g.newID(), Name: OrganisationName, CreatedAt: founded}

	// Clinics, one per city in order of size.
	for i := range opt.Clinics {
		c := cities[i]
		g.clinicCity = append(g.clinicCity, c)
		g.clinics = append(g.clinics, confidant.Clinic{
			ID: g.newID(), Name: "Terapiakeskus " + c.name, City: c.name,
			CreatedAt: founded.Add(time.Duration(i) * 24 * time.Hour),
		})
	}

	// Managers: one per five clinics; the first (the demo manager) manages
	// the first clinics, including the demo therapist's.
	g.managerOf = make([]int, opt.Clinics)
	for m := 0; m*5 < opt.Clinics; m++ {
		var ids []string
		for c := m * 5; c < min(m*5+5, opt.Clinics); c++ {
			ids = append(ids, g.clinics[c].ID)
			g.managerOf[c] = m
		}
		u := g.staffUser(rng, confidant.RoleManager, ids, rng.IntN(3) > 0)
		if m == 0 {
			u.Username = ManagerUsername
		}
		g.managers = append(g.managers, u)
	}
	for s := range 2 {
		u := g.staffUser(rng, confidant.RoleSecurity, nil, rng.IntN(2) == 0)
		if s == 0 {
			u.Username = SecurityUsername
		}
		g.security = append(g.security, u)
	}

	// Therapists: at least one per clinic while they last, the rest by city
	// weight. Therapist 0, the demo therapist, works in the first clinic.
	clinicOf := make([]int, opt.Therapists)
	total := 0
	for _, c := range g.clinicCity {
		total += c.weight
	}
	for t := range opt.Therapists {
		if t < opt.Clinics {
			clinicOf[t] = t
			continue
		}
		r := rng.IntN(total)
		for c, city := range g.clinicCity {
			if r < city.weight {
				clinicOf[t] = c
				break
			}
			r -= city.weight
		}
	}
	g.byClinic = make([][]int, opt.Clinics)
	templates := []confidant.NoteTemplate{confidant.TemplateFree, confidant.TemplateSOAP, confidant.TemplateSOAP, confidant.TemplateDAP}
	for t, c := range clinicOf {
		u := g.staffUser(rng, confidant.RoleTherapist, []string{g.clinics[c].ID}, rng.IntN(4) > 0)
		if t == 0 {
			u.Username = TherapistUsername
		}
		g.therapists = append(g.therapists, therapist{user: u, clinic: c, template: pick(rng, templates)})
		g.byClinic[c] = append(g.byClinic[c], t)
	}
	// The organisation's data protection officer (the demo login "dpo").
	dpo := g.staffUser(mrand.New(mrand.NewPCG(opt.Seed, dpoStream)), confidant.RoleDPO, nil, true)
	dpo.Username = DPOUsername
	g.dpo = append(g.dpo, dpo)
	return g
}

// staffUser makes a staff account with a generated name and username such
// as "t.korhonen" (a number is added when taken).
func (g *generator) staffUser(rng *mrand.Rand, role confidant.Role, clinicIDs []string, female bool) confidant.User {
	given := pick(rng, maleNames)
	if female {
		given = pick(rng, femaleNames)
	}
	family := pick(rng, familyNames)
	base := fold(given)[:1] + "." + fold(family)
	username := base
	for n := 2; g.usernames[username]; n++ {
		username = fmt.Sprintf("%s%d", base, n)
	}
	g.usernames[username] = true
	return confidant.User{
		ID: g.newID(), Username: username, DisplayName: given + " " + family, Role: role,
		ClinicIDs: clinicIDs, PasswordHash: g.hashes[role],
		CreatedAt: g.org.CreatedAt.Add(time.Duration(rng.IntN(700*24)) * time.Hour),
	}
}

func (g *generator) writeOrganisation(ctx context.Context, tx confidant.Tx) error {
	if err := tx.CreateOrganisation(ctx, g.org); err != nil {
		return err
	}
	for _, c := range g.clinics {
		if err := tx.CreateClinic(ctx, c); err != nil {
			return err
		}
	}
	users := append(append(append([]confidant.User(nil), g.managers...), g.security...), g.dpo...)
	for _, t := range g.therapists {
		users = append(users, t.user)
	}
	for _, u := range users {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		// Staff sign in with a second factor: enrol each with its role's
		// secret, sealed per account by the store, as confirmed without a
		// code (time step 0).
		if secret := g.totp[u.Role]; secret != nil {
			if err := tx.SetTOTPPending(ctx, u.ID, secret, g.now); err != nil {
				return err
			}
			if err := tx.ConfirmTOTP(ctx, u.ID, 0, g.now); err != nil {
				return err
			}
		}
	}
	return nil
}

// newTOTPSecrets returns a random 160-bit TOTP secret for each staff role.
func newTOTPSecrets() map[confidant.Role][]byte {
	out := map[confidant.Role][]byte{}
	for _, r := range confidant.Roles {
		if r.Staff() {
			b := make([]byte, 20)
			rand.Read(b)
			out[r] = b
		}
	}
	return out
}

// totpSecret is the base32 form of a role's TOTP secret, or "".
func (g *generator) totpSecret(r confidant.Role) string {
	if g.totp[r] == nil {
		return ""
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(g.totp[r])
}

// patientRecords is one patient with everything recorded about them.
type patientRecords struct {
	newID     func() string
	patient   confidant.Patient
	user      *confidant.User // the demo patient's account
	care      []confidant.CareRelationship
	notes     []confidant.Note // all versions; the first is created, the rest added
	process   []confidant.ProcessNote
	diagnoses []confidant.Diagnosis
	plans     []confidant.TreatmentPlan
	measures  []confidant.Measure
}

// recordActions are the access-log actions of record writes (those of
// internal/service) that the demo records for its records.
var recordActions = map[string]bool{
	"note.create": true, "note.sign": true, "note.amend": true, "note.release": true,
	"process_note.create": true, "diagnosis.create": true, "plan.create": true, "measure.create": true,
}

func writePatients(ctx context.Context, tx confidant.Tx, recs []patientRecords) error {
	for _, r := range recs {
		if err := tx.CreatePatient(ctx, r.patient); err != nil {
			return err
		}
		if r.user != nil {
			if err := tx.CreateUser(ctx, *r.user); err != nil {
				return err
			}
		}
		for _, c := range r.care {
			if err := tx.CreateCare(ctx, c); err != nil {
				return err
			}
		}
		for _, d := range r.diagnoses {
			if err := tx.CreateDiagnosis(ctx, d); err != nil {
				return err
			}
		}
		for _, p := range r.plans {
			if err := tx.CreatePlan(ctx, p); err != nil {
				return err
			}
		}
		for _, m := range r.measures {
			if err := tx.CreateMeasure(ctx, m); err != nil {
				return err
			}
		}
		for _, n := range r.notes {
			first := n
			first.Versions = n.Versions[:1]
			if err := tx.CreateNote(ctx, first); err != nil {
				return err
			}
			for _, v := range n.Versions[1:] {
				if err := tx.AddNoteVersion(ctx, n.ID, v); err != nil {
					return err
				}
			}
		}
		for _, p := range r.process {
			if err := tx.CreateProcessNote(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}
