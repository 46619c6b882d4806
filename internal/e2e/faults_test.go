package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/faultproxy"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/postgres"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// The fault-injection tests of the storage path (docs/OPERATIONS.md,
// "Fault-injection tests"): the service, sealing and the access log over
// PostgreSQL, under concurrent load, while the network to the database
// drops a COMMIT's reply, resets connections or stalls, and while the
// database itself is stopped the hard way and restarted. Whatever happens,
// every write acknowledged to a client must be readable afterwards with its
// exact content, failures must say "unavailable" (503), never "internal",
// the log must keep serving without a restart, verify at the end, and the
// checkpoints signed on the way must each be a consistent extension of the
// earlier ones.

// opTimeout bounds every single operation of the load, so that a hang
// fails the test instead of stalling it.
const opTimeout = 30 * time.Second

// faultStack is the product's storage stack over one PostgreSQL schema.
type faultStack struct {
	w      *testfix.World
	log    *audit.Log
	k      *keys.Keyring
	schema string
}

// newFaultStack builds the world over PostgreSQL at dsn in a fresh schema.
func newFaultStack(t *testing.T, dsn, cleanupDSN string) *faultStack {
	t.Helper()
	schema := testfix.PostgresSchema(t, cleanupDSN, "faults_")
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	k := testfix.Keyring(t)
	st := testfix.Seal(t, db, k)
	w := testfix.New(t, st)
	// The load registers patients as fast as it can: raise the per-account
	// registration limit (tested in internal/service), which would
	// otherwise answer 429 within the first second.
	cfg := service.DefaultConfig()
	cfg.RegistrationsPerHour = 999
	l := testfix.Log(st)
	svc, err := service.New(st, testfix.FastHasher{}, cfg, service.WithAuditor(l), service.WithAuditReader(l))
	if err != nil {
		t.Fatal(err)
	}
	w.Service = svc
	return &faultStack{w: w, log: l, k: k, schema: schema}
}

// load is concurrent writers and readers on one stack: therapists writing
// session notes and registering patients, and reading them back (each read
// an access-log event).
type load struct {
	s *faultStack

	mu       sync.Mutex
	notes    map[string]string // acknowledged note id -> body
	patients map[string]string // acknowledged patient id -> family name
	failures map[string]int    // operation kind/code -> count, during the faults
	bad      map[string]int    // failures that were not KindUnavailable
	badFirst map[string]string // the first error of each in bad
	acks     atomic.Int64

	cpMu sync.Mutex
	cps  []auditlog.Checkpoint
}

func newLoad(s *faultStack) *load {
	return &load{s: s, notes: map[string]string{}, patients: map[string]string{},
		failures: map[string]int{}, bad: map[string]int{}, badFirst: map[string]string{}}
}

// run starts writers (and a checkpoint signer) until ctx ends; wait waits
// for them.
func (l *load) run(ctx context.Context, writers int) (wait func()) {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if !l.step(ctx, w, i) {
					// Back off a little: a database that is down
					// answers at once, and spinning starves the
					// machine.
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			cp, err := l.s.log.Checkpoint(cctx)
			cancel()
			if err != nil {
				l.fail("checkpoint", err)
				continue
			}
			l.cpMu.Lock()
			l.cps = append(l.cps, cp)
			l.cpMu.Unlock()
		}
	}()
	return wg.Wait
}

// step is one writer's i-th operation; it reports whether it succeeded.
func (l *load) step(parent context.Context, w, i int) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), opTimeout)
	defer cancel()
	as := func(u confidant.User) context.Context {
		return confidant.WithActor(ctx, confidant.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, ClinicIDs: u.ClinicIDs, SessionID: "faults"})
	}
	world := l.s.w
	switch i % 4 {
	case 3: // a new patient (synthetic: a name and a temporary-range identity code)
		family := fmt.Sprintf("Load%d-%d", w, i)
		code, err := confidant.MakeIdentityCode(time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, w*3000+i/100), 900+i%100)
		if err != nil {
			panic(err)
		}
		p, err := world.Service.CreatePatient(as(world.Therapist), service.PatientInput{GivenName: "Fault", FamilyName: family, IdentityCode: code})
		if l.fail("patient.create", err) {
			return false
		}
		l.mu.Lock()
		l.patients[p.ID] = family
		l.mu.Unlock()
		l.acks.Add(1)
	case 2: // read back a note this writer saw acknowledged
		l.mu.Lock()
		var id string
		for id = range l.notes {
			break
		}
		l.mu.Unlock()
		if id != "" {
			_, err := world.Service.Note(as(world.Therapist), id)
			return !l.fail("note.read", err)
		}
	default: // a session note
		body := fmt.Sprintf("fault-test note %d/%d", w, i)
		n, err := world.Service.CreateNote(as(world.Therapist), world.PatientA.ID, service.NoteInput{Body: body})
		if l.fail("note.create", err) {
			return false
		}
		l.mu.Lock()
		l.notes[n.ID] = body
		l.mu.Unlock()
		l.acks.Add(1)
	}
	return true
}

// fail records err of operation op, if any, and reports whether there was
// one. The kind and code are counted; the whole error is kept only for the
// first failure of each kind that must not happen, to explain it (errors
// never hold patient data, and the load's data is synthetic).
func (l *load) fail(op string, err error) bool {
	if err == nil {
		return false
	}
	key := op + " " + confidant.KindOf(err).String() + "/" + confidant.CodeOf(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[key]++
	if !confidant.IsKind(err, confidant.KindUnavailable) {
		if l.bad[key] == 0 {
			l.badFirst[key] = err.Error()
		}
		l.bad[key]++
	}
	return true
}

// progress waits until n more writes have been acknowledged; it fails the
// test, saying after what, if they do not come.
func (l *load) progress(t *testing.T, n int64, after string) bool {
	t.Helper()
	want := l.acks.Load() + n
	deadline := time.Now().Add(opTimeout)
	for l.acks.Load() < want {
		if time.Now().After(deadline) {
			t.Errorf("the log stopped serving after %s: no %d more acknowledged writes (failures so far: %v)", after, n, l.failuresNow())
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (l *load) failuresNow() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]int, len(l.failures))
	for k, v := range l.failures {
		m[k] = v
	}
	return m
}

// serving checks that, after the faults, writes succeed again without a
// restart (a few tries while the pool replaces broken connections).
func (l *load) serving(t *testing.T) {
	t.Helper()
	world := l.s.w
	deadline := time.Now().Add(opTimeout)
	for ok := 0; ok < 5; {
		ctx, cancel := context.WithTimeout(world.As(world.Therapist), opTimeout)
		body := fmt.Sprintf("fault-test note after %d", ok)
		n, err := world.Service.CreateNote(ctx, world.PatientA.ID, service.NoteInput{Body: body})
		cancel()
		if err == nil {
			l.mu.Lock()
			l.notes[n.ID] = body
			l.mu.Unlock()
			ok++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log does not serve writes after the faults: %s/%s", confidant.KindOf(err), confidant.CodeOf(err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check asserts what must hold after the faults: no failure other than
// KindUnavailable; every acknowledged write readable with its exact
// content; the log verifies, against every checkpoint signed during the
// run, in this process and when opened afresh (as a restarted server would)
// over directDSN; and the checkpoints are consistent with each other.
func (l *load) check(t *testing.T, directDSN string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d notes and %d patients acknowledged; failures during the faults (operation kind/code: count): %v", len(l.notes), len(l.patients), l.failures)
	if len(l.bad) > 0 {
		t.Errorf("failures other than unavailable (503) during the faults (operation kind/code: count): %v", l.bad)
		for key, err := range l.badFirst {
			t.Logf("the first %s: %s", key, err)
		}
	}
	if len(l.notes) < 20 {
		t.Errorf("only %d notes were acknowledged; the load did not exercise much", len(l.notes))
	}
	world := l.s.w
	ctx := world.As(world.Therapist)
	lost := 0
	for id, body := range l.notes {
		n, err := world.Service.Note(ctx, id)
		if err != nil || n.Current().Body != body {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged note %s: %s/%s, same body: %v", id, confidant.KindOf(err), confidant.CodeOf(err), err == nil && n.Current().Body == body)
			}
		}
	}
	for id, family := range l.patients {
		p, err := world.Service.Patient(ctx, id)
		if err != nil || p.FamilyName != family {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged patient %s: %s/%s, same name: %v", id, confidant.KindOf(err), confidant.CodeOf(err), err == nil && p.FamilyName == family)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged writes are not readable as written", lost)
	}

	l.cpMu.Lock()
	cps := append([]auditlog.Checkpoint(nil), l.cps...)
	l.cpMu.Unlock()
	vctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	final, err := l.s.log.Checkpoint(vctx)
	if err != nil {
		t.Errorf("signing a checkpoint after the faults: %s/%s", confidant.KindOf(err), confidant.CodeOf(err))
	} else if len(cps) == 0 {
		t.Errorf("no checkpoint was signed during the run")
	} else {
		checkConsistent(t, vctx, l.s.log, cps, final)
		cps = append(cps, final)
	}
	if err := l.s.log.Verify(vctx, cps, nil); err != nil {
		t.Errorf("the access log does not verify after the faults: %v", err)
	}
	// A restarted server: the log opened afresh from the database.
	db, err := postgres.Open(vctx, directDSN, postgres.Options{Schema: l.s.schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fresh, err := audit.Open(vctx, db, l.s.k, audit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("the access log does not open after the faults (a server would refuse to start): %v", err)
	}
	defer fresh.Close()
	if err := fresh.Verify(vctx, cps, nil); err != nil {
		t.Errorf("the access log, opened afresh, does not verify after the faults: %v", err)
	}
}

// checkConsistent checks that every checkpoint signed during the run is a
// prefix of the final one (last): a consistency proof from its size to the
// final size, built from the stored tree, verifies against both roots. So
// each later checkpoint is a consistent extension of every earlier one, and
// checkpoints of one size have one root.
func checkConsistent(t *testing.T, ctx context.Context, log *audit.Log, cps []auditlog.Checkpoint, last auditlog.Checkpoint) {
	t.Helper()
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	bad := 0
	for _, a := range cps {
		var err error
		switch {
		case a.Size > last.Size:
			err = fmt.Errorf("larger than the final checkpoint (%d)", last.Size)
		case a.Size == last.Size:
			if a.Root != last.Root {
				err = fmt.Errorf("same size as the final checkpoint, another root: the log forked")
			}
		case a.Size > 0:
			var p [][]byte
			p, err = log.ConsistencyProof(ctx, a.Size, last.Size)
			if err == nil {
				err = auditlog.VerifyConsistency(a.Size, last.Size, p, a.Root, last.Root)
			}
		}
		if err != nil {
			bad++
			t.Errorf("the checkpoint of size %d signed during the run is not a prefix of the final one of size %d: %v", a.Size, last.Size, err)
		}
	}
	if bad == 0 {
		t.Logf("%d checkpoints signed during the run, sizes %d to %d, all prefixes of the final one", len(cps), cps[0].Size, last.Size)
	}
}

// awaitFault waits for an armed fault to happen.
func awaitFault(t *testing.T, done <-chan struct{}, what string) bool {
	t.Helper()
	select {
	case <-done:
		return true
	case <-time.After(opTimeout):
		t.Errorf("%s did not happen: no matching traffic through the proxy", what)
		return false
	}
}

// TestFaultsThroughProxy runs the load through a fault proxy and, under it,
// drops COMMIT replies, resets connections mid-query and stalls the
// network; then, alone, resets a checkpoint's read of the stored tree.
func TestFaultsThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection test skipped in -short mode")
	}
	dsn := testfix.FaultsPostgresDSN(t, "the fault-proxy test")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	pu := *u
	pu.Host = proxy.Addr()
	q := pu.Query()
	q.Set("sslmode", "disable") // the proxy reads the protocol
	pu.RawQuery = q.Encode()

	s := newFaultStack(t, pu.String(), dsn)
	l := newLoad(s)
	lostReplies(t, proxy, l)
	ctx, stop := context.WithCancel(context.Background())
	wait := l.run(ctx, 10)
	faults := func() {
		if !l.progress(t, 20, "the start") {
			return
		}
		for i := range 4 {
			if !awaitFault(t, proxy.DropNextCommitReply(), "dropping a COMMIT reply") ||
				!l.progress(t, 10, fmt.Sprintf("COMMIT reply %d was lost", i+1)) {
				return
			}
		}
		for i := range 3 {
			if !awaitFault(t, proxy.ResetNextQuery(), "resetting a query") ||
				!l.progress(t, 10, fmt.Sprintf("connection reset %d mid-query", i+1)) {
				return
			}
		}
		proxy.ResetAll()
		if !l.progress(t, 10, "all connections were reset") {
			return
		}
		proxy.Stall()
		time.Sleep(300 * time.Millisecond)
		proxy.Resume()
		if !l.progress(t, 10, "a stall") {
			return
		}
		proxy.Stall()
		time.Sleep(300 * time.Millisecond)
		proxy.Cut()
		if !l.progress(t, 10, "a stall ended by cutting the connections") {
			return
		}
		// Resets in quick succession while checkpoints are signed back to
		// back: some land in the middle of reading the stored tree.
		cctx, cstop := context.WithCancel(context.Background())
		signed := make(chan struct{})
		go func() {
			defer close(signed)
			for cctx.Err() == nil {
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				_, err := s.log.Checkpoint(ctx)
				cancel()
				l.fail("checkpoint", err)
			}
		}()
		for range 100 {
			time.Sleep(5 * time.Millisecond)
			proxy.ResetAll()
		}
		cstop()
		<-signed
		l.progress(t, 10, "resets during checkpoints")
	}
	faults()
	stop()
	wait()
	t.Logf("%d COMMIT replies dropped, %d connections through the proxy", proxy.DroppedCommits(), proxy.Accepted())
	for range 3 {
		l.serving(t)
		checkpointReset(t, proxy, l)
	}
	l.check(t, dsn)
}

// checkpointReset signs a checkpoint, alone, while the connection it reads
// the stored tree on is reset in the middle of reading a tile: it must fail
// as unavailable (the database went away), not as a damaged tree.
func checkpointReset(t *testing.T, proxy *faultproxy.Proxy, l *load) {
	t.Helper()
	done := proxy.ResetNextQueryMatching("FROM audit_tiles")
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := l.s.log.Checkpoint(ctx)
	if !awaitFault(t, done, "resetting a checkpoint's tile read") {
		return
	}
	if err == nil {
		t.Errorf("a checkpoint whose tile read was reset succeeded")
		return
	}
	l.fail("checkpoint (tile read reset)", err)
}

// lostReplies drops the reply to a note's COMMIT, one writer alone, a few
// times: the writer must be told 503 outcome_unknown (not that nothing
// changed), and the note must in fact be stored, once (the proxy cuts only
// after the server has answered the COMMIT).
func lostReplies(t *testing.T, proxy *faultproxy.Proxy, l *load) {
	t.Helper()
	world := l.s.w
	for i := range 3 {
		body := fmt.Sprintf("fault-test note, lost reply %d", i)
		done := proxy.DropNextCommitReply()
		ctx, cancel := context.WithTimeout(world.As(world.Therapist), opTimeout)
		_, err := world.Service.CreateNote(ctx, world.PatientA.ID, service.NoteInput{Body: body})
		cancel()
		if !awaitFault(t, done, "dropping the COMMIT reply of a note") {
			return
		}
		if !confidant.IsKind(err, confidant.KindUnavailable) || confidant.CodeOf(err) != confidant.CodeOutcomeUnknown {
			t.Errorf("a note whose COMMIT reply was lost: %s/%s, want unavailable/%s", confidant.KindOf(err), confidant.CodeOf(err), confidant.CodeOutcomeUnknown)
		}
		var ids []string
		deadline := time.Now().Add(opTimeout)
		for {
			ctx, cancel := context.WithTimeout(world.As(world.Therapist), opTimeout)
			notes, err := world.Service.Notes(ctx, world.PatientA.ID)
			cancel()
			if err == nil {
				for _, n := range notes {
					if n.Current().Body == body {
						ids = append(ids, n.ID)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reading the notes after a lost COMMIT reply: %s/%s", confidant.KindOf(err), confidant.CodeOf(err))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(ids) != 1 {
			t.Errorf("a note whose COMMIT reached the database is stored %d times, want once", len(ids))
			continue
		}
		l.mu.Lock()
		l.notes[ids[0]] = body // stored: it must stay readable
		l.mu.Unlock()
	}
}

// TestFaultsDatabaseRestart runs the load on a throwaway cluster and stops
// the database the hard way (pg_ctl stop -m immediate, like a crash) and
// starts it again, several times.
func TestFaultsDatabaseRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection test skipped in -short mode")
	}
	c := testfix.NewCluster(t)
	s := newFaultStack(t, c.DSN(), c.DSN())
	l := newLoad(s)
	ctx, stop := context.WithCancel(context.Background())
	wait := l.run(ctx, 10)
	func() {
		if !l.progress(t, 20, "the start") {
			return
		}
		for i := range 3 {
			c.Stop(t)
			time.Sleep(200 * time.Millisecond) // writers meet a database that is down
			c.Start(t)
			if !l.progress(t, 20, fmt.Sprintf("database restart %d", i+1)) {
				return
			}
		}
	}()
	stop()
	wait()
	l.serving(t)
	l.check(t, c.DSN())
}
