package demo

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/confidanthealth/confidant"
)

// A Seeder writes a large deterministic data set (confidant seed): every
// record id and all content are functions of the seed and the patient
// index, so that an interrupted run can find how far it got and continue.
// Patients go in order, BatchSize per transaction of the store, each with a
// matching access history (reads and writes by the treating therapists)
// recorded in the same transaction.

// SeedOptions configure a Seeder.
type SeedOptions struct {
	Seed             uint64
	Clinics          int       // 0: 25
	Staff            int       // all staff accounts; 0: 400
	Patients         int       // 0: 36000
	NotesPerPatient  int       // 0: 28
	EventsPerPatient int       // access-log events per patient, at least the writes; 0: only the writes and one chart read per note
	Now              time.Time // zero: midnight UTC of today (so that reruns on the same day match)
	BatchSize        int       // patients per transaction; 0: 20
	Hasher           Hasher    // nil: password.New defaults
	Passwords        Passwords // empty ones are random
}

// Seeder generates and writes a seeded data set.
type Seeder struct {
	opt Options
	so  SeedOptions
	key []byte
}

// NewSeeder checks the options.
func NewSeeder(so SeedOptions) (*Seeder, error) {
	so.Clinics = cmp.Or(so.Clinics, DefaultClinics)
	so.Staff = cmp.Or(so.Staff, 400)
	so.Patients = cmp.Or(so.Patients, 36000)
	so.NotesPerPatient = cmp.Or(so.NotesPerPatient, 28)
	so.BatchSize = cmp.Or(so.BatchSize, 20)
	if so.Now.IsZero() {
		so.Now = time.Now().UTC().Truncate(day)
	}
	managers := (so.Clinics + 4) / 5
	therapists := so.Staff - managers - 2
	if therapists < 1 {
		return nil, fmt.Errorf("seed: Staff must be at least %d for %d clinics", managers+3, so.Clinics)
	}
	if so.NotesPerPatient < 1 || so.NotesPerPatient > 500 {
		return nil, fmt.Errorf("seed: notes per patient must be between 1 and 500")
	}
	if so.EventsPerPatient < 0 {
		return nil, fmt.Errorf("seed: events per patient must not be negative")
	}
	opt := Options{
		Seed: so.Seed, Clinics: so.Clinics, Therapists: therapists, Patients: so.Patients,
		Months: 60, Now: so.Now, BatchSize: so.BatchSize, Passwords: so.Passwords, Hasher: so.Hasher,
	}.withDefaults()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], so.Seed)
	k := sha256.Sum256(append([]byte("confidant-seed/v1|"), sb[:]...))
	return &Seeder{opt: opt, so: so, key: k[:]}, nil
}

// Options returns the options after defaults.
func (s *Seeder) Options() SeedOptions { return s.so }

func (s *Seeder) generator(hashes map[confidant.Role]string) *generator {
	ids := &idSource{key: s.key}
	ids.scope("org", 0)
	g := newGeneratorWith(s.opt, hashes, ids)
	g.notesPer = s.so.NotesPerPatient
	g.noteMin, g.noteMax = 2048, 8192
	g.windowStart = g.now.AddDate(-30, 0, 0)
	return g
}

// PatientID is the id of patient i.
func (s *Seeder) PatientID(i int) string {
	ids := &idSource{key: s.key}
	ids.scope("patient", i)
	return ids.next()
}

// OrganisationID is the id of the seeded organisation.
func (s *Seeder) OrganisationID() string {
	ids := &idSource{key: s.key}
	ids.scope("org", 0)
	return ids.next()
}

// Progress is how far a run has got.
type Progress struct {
	Patients int   // patients written, in order
	Notes    int64 // written by this run
	Events   int64 // written by this run
}

// Done returns how many patients a previous run wrote (0 if none), checking
// that the store holds this seed's organisation (or none).
func (s *Seeder) Done(ctx context.Context, st confidant.Store) (int, bool, error) {
	var done int
	var hasOrg bool
	err := st.View(ctx, func(tx confidant.Tx) error {
		o, err := tx.Organisation(ctx)
		if confidant.IsKind(err, confidant.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if o.ID != s.OrganisationID() {
			return confidant.Errorf(confidant.KindConflict, "not_seed", "The database holds other data (not this seed's); seed an empty database.")
		}
		hasOrg = true
		exists := func(i int) (bool, error) {
			_, err := tx.Patient(ctx, s.PatientID(i))
			if confidant.IsKind(err, confidant.KindNotFound) {
				return false, nil
			}
			return err == nil, err
		}
		// Patients are written in order, so those present are a prefix:
		// find its length by binary search (allowing for a larger earlier
		// --patients).
		hi := s.so.Patients
		for {
			ok, err := exists(hi - 1)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			hi *= 2
		}
		lo := 0 // patients [0, lo) exist; hi-1 does not
		for lo < hi {
			mid := (lo + hi) / 2
			ok, err := exists(mid)
			if err != nil {
				return err
			}
			if ok {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		done = lo
		return nil
	})
	return min(done, s.so.Patients), hasOrg, err
}

// Run writes the organisation and staff if missing, then patients from
// where a previous run stopped up to Patients. progress, if not nil, is
// called after each batch. A canceled ctx stops the run between batches;
// whatever was committed stays whole (all of a batch's patients or none).
// The returned Logins are only set when this run created the staff.
func (s *Seeder) Run(ctx context.Context, st confidant.Store, progress func(Progress)) (Logins, Progress, error) {
	start, hasOrg, err := s.Done(ctx, st)
	if err != nil {
		return Logins{}, Progress{}, fmt.Errorf("seed: %w", err)
	}
	var pw map[confidant.Role]string
	hashes := map[confidant.Role]string{}
	if !hasOrg {
		pw = map[confidant.Role]string{
			confidant.RoleTherapist: cmp.Or(s.opt.Passwords.Therapist, randomPassword()),
			confidant.RolePatient:   cmp.Or(s.opt.Passwords.Patient, randomPassword()),
			confidant.RoleManager:   cmp.Or(s.opt.Passwords.Manager, randomPassword()),
			confidant.RoleSecurity:  cmp.Or(s.opt.Passwords.Security, randomPassword()),
			confidant.RoleDPO:       cmp.Or(s.opt.Passwords.DPO, randomPassword()),
		}
		h := s.opt.Hasher
		if h == nil {
			return Logins{}, Progress{}, fmt.Errorf("seed: no password hasher")
		}
		for _, role := range confidant.Roles {
			if hashes[role], err = h.Hash(ctx, pw[role]); err != nil {
				return Logins{}, Progress{}, fmt.Errorf("seed: hash: %w", err)
			}
		}
	}
	g := s.generator(hashes)
	var li Logins
	if !hasOrg {
		g.totp = newTOTPSecrets()
		li = g.logins(pw)
		err := st.Update(context.WithoutCancel(ctx), func(tx confidant.Tx) error { return g.writeOrganisation(ctx, tx) })
		if err != nil {
			return Logins{}, Progress{}, fmt.Errorf("seed: organisation and staff: %w", err)
		}
	}
	// Replay the identity codes of the patients already written.
	for i := range start {
		g.patientHead(i)
	}
	pr := Progress{Patients: start}
	if progress != nil {
		progress(pr)
	}

	// Generate the next batch while the previous one is written.
	type batch struct {
		start, end int
		recs       []patientRecords
		events     [][]confidant.AuditEvent
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	go func() {
		defer close(batches)
		for b := start; b < s.so.Patients; b += s.so.BatchSize {
			e := min(b+s.so.BatchSize, s.so.Patients)
			bt := batch{start: b, end: e}
			for i := b; i < e; i++ {
				r := g.patient(i)
				bt.recs = append(bt.recs, r)
				bt.events = append(bt.events, g.history(i, r, s.so.EventsPerPatient))
			}
			select {
			case batches <- bt:
			case <-gctx.Done():
				return
			}
		}
	}()
	for bt := range batches {
		if err := ctx.Err(); err != nil {
			return li, pr, err
		}
		err := st.Update(context.WithoutCancel(ctx), func(tx confidant.Tx) error {
			if err := writePatients(ctx, tx, bt.recs); err != nil {
				return err
			}
			for _, evs := range bt.events {
				for _, ev := range evs {
					if err := tx.Audit(ev); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return li, pr, fmt.Errorf("seed: patients %d-%d: %w", bt.start+1, bt.end, err)
		}
		pr.Patients = bt.end
		for k := range bt.recs {
			pr.Notes += int64(len(bt.recs[k].notes))
			pr.Events += int64(len(bt.events[k]))
		}
		if progress != nil {
			progress(pr)
		}
	}
	return li, pr, ctx.Err()
}

// idSource derives record ids: HMAC-SHA256 over the seed's key, a scope
// (the organisation, or patient i) and a counter, cut to 128 bits and
// written like confidant.NewID.
type idSource struct {
	key  []byte
	name string
	i    int
	n    int
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

func (s *idSource) scope(name string, i int) { s.name, s.i, s.n = name, i, 0 }

func (s *idSource) next() string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s|%d|%d", s.name, s.i, s.n)
	s.n++
	return idEncoding.EncodeToString(m.Sum(nil)[:16])
}

// newID returns a random id for the demo, a derived one for the seeder.
func (g *generator) newID() string {
	if g.ids == nil {
		return confidant.NewID()
	}
	return g.ids.next()
}

// startIDs starts the ids of patient i (the patient's own id first).
func (g *generator) startIDs(i int) {
	if g.ids != nil {
		g.ids.scope("patient", i)
	}
}

// plannedSessions returns the start and end of care and exactly notesPer
// session times (weekly or every other week, on working days) ending
// before now; about one in ten care relationships has ended after the last
// session.
func (g *generator) plannedSessions(rng *mrand.Rand, demoActive, demoEnded bool) (from, to time.Time, sessions []time.Time) {
	interval := 7
	if !demoActive && rng.IntN(5) == 0 {
		interval = 14
	}
	ended := demoEnded || (!demoActive && rng.IntN(10) == 0)
	span := g.notesPer*(interval+1) + 14 + rng.IntN(60)
	clock := time.Duration(6*60+30*rng.IntN(18)) * time.Minute
	from = g.now.Add(-time.Duration(span) * day).Truncate(day).Add(7 * time.Hour)
	t := workday(from.Truncate(day).Add(time.Duration(1+rng.IntN(5)) * day)).Add(clock)
	for len(sessions) < g.notesPer && t.Add(time.Hour).Before(g.now) {
		sessions = append(sessions, t)
		t = workday(t.Truncate(day).Add(time.Duration(interval+rng.IntN(3)-1) * day)).Add(clock)
	}
	if ended && len(sessions) > 0 {
		if end := sessions[len(sessions)-1].Add(3 * day).Truncate(time.Hour); end.Before(g.now.Add(-day)) && end.After(from.Add(28*day)) {
			to = end
		}
	}
	return from, to, sessions
}

// history returns the access-log events of patient i: the writes as the
// service records them (patients.create, care.manage, diagnosis.write,
// plan.write, measure.write, note.create, note.sign, note.amend,
// note.release, process_note.create), a chart read by the author before
// each session note, and then further reads by the treating therapists
// (chart, demographics, process notes) during working hours until there are
// want events. Events are in time order.
func (g *generator) history(i int, r patientRecords, want int) []confidant.AuditEvent {
	rng := mrand.New(mrand.NewPCG(g.opt.Seed^0xa0d17, patientStream+uint64(i)))
	p := r.patient
	roles := map[string]confidant.Role{}
	for _, t := range g.therapists {
		roles[t.user.ID] = confidant.RoleTherapist
	}
	ev := func(at time.Time, actor, action, record string) confidant.AuditEvent {
		role := roles[actor]
		if role == "" {
			role = confidant.RoleManager
		}
		return confidant.AuditEvent{
			Time: at, ActorID: actor, Role: role, ClinicID: p.ClinicID, Action: action,
			PatientID: p.ID, RecordID: record, Outcome: confidant.OutcomeOK,
		}
	}
	var out []confidant.AuditEvent
	care := r.care[0]
	out = append(out, ev(p.CreatedAt, care.CreatedBy, "patients.create", p.ID))
	for _, c := range r.care {
		out = append(out, ev(c.CreatedAt, c.CreatedBy, "care.manage", c.ID))
	}
	for _, d := range r.diagnoses {
		out = append(out, ev(d.RecordedAt, d.RecordedBy, "diagnosis.create", d.ID))
	}
	for _, pl := range r.plans {
		out = append(out, ev(pl.CreatedAt, pl.AuthorID, "plan.create", pl.ID))
	}
	for _, m := range r.measures {
		out = append(out, ev(m.TakenAt, m.RecordedBy, "measure.create", m.ID))
	}
	for _, n := range r.notes {
		out = append(out, ev(n.SessionAt.Add(-time.Duration(5+rng.IntN(20))*time.Minute), n.AuthorID, "chart.read", ""))
		out = append(out, ev(n.CreatedAt, n.AuthorID, "note.create", n.ID))
		for k, v := range n.Versions {
			if k > 0 {
				out = append(out, ev(v.CreatedAt, v.AuthorID, "note.amend", n.ID))
			} else if v.Status == confidant.NoteSigned {
				out = append(out, ev(v.SignedAt, v.SignedBy, "note.sign", n.ID))
			}
		}
		if n.Released() {
			out = append(out, ev(n.ReleasedAt, n.ReleasedBy, "note.release", n.ID))
		}
	}
	for _, pn := range r.process {
		out = append(out, ev(pn.CreatedAt, pn.AuthorID, "process_note.create", pn.ID))
	}
	// Further reads by the treating therapists while in care.
	end := g.now
	if !care.To.IsZero() {
		end = care.To
	}
	span := end.Sub(care.From)
	for tries := 0; len(out) < want && span > 0 && tries < 4*want; tries++ {
		c := r.care[rng.IntN(len(r.care))]
		at := care.From.Add(time.Duration(rng.Int64N(int64(span))))
		at = workday(at.Truncate(day)).Add(time.Duration(6*60+rng.IntN(9*60)) * time.Minute)
		if !at.Before(g.now) || !c.ActiveAt(at) { // only while that therapist's care lasts
			continue
		}
		action, record := "chart.read", ""
		switch x := rng.IntN(10); {
		case x < 2:
			action = "patient.read_demographics"
		case x < 3 && len(r.process) > 0:
			pn := r.process[rng.IntN(len(r.process))]
			if pn.AuthorID != c.TherapistID || at.Before(pn.CreatedAt) {
				continue
			}
			action, record = "process_note.read", pn.ID
		}
		out = append(out, ev(at, c.TherapistID, action, record))
	}
	slices.SortStableFunc(out, func(a, b confidant.AuditEvent) int { return a.Time.Compare(b.Time) })
	return out
}
