package logserve

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/testfix"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// clock is a settable time for the handler's checkpoint refresh.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func withClock(c *clock) Option { return func(s *server) { s.now = c.now } }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a log over a fresh SQLite store, served by the handler.
type fixture struct {
	t     *testing.T
	log   *audit.Log
	clock *clock
	srv   *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	l := testfix.Log(testfix.SQLite(t))
	if l == nil {
		t.Fatal("no access log under the test store")
	}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	srv := httptest.NewServer(newHandler(l, WithLogger(quiet), withClock(c)))
	t.Cleanup(srv.Close)
	return &fixture{t: t, log: l, clock: c, srv: srv}
}

// record appends n events to the log in one batch.
func (f *fixture) record(n int) {
	f.t.Helper()
	patient := confidant.NewID()
	evs := make([]confidant.AuditEvent, n)
	for i := range evs {
		evs[i] = confidant.AuditEvent{
			Time: time.Now(), ActorID: confidant.NewID(), Role: confidant.RoleTherapist, Action: "chart.read",
			PatientID: patient, Outcome: confidant.OutcomeOK, Purpose: "care",
		}
	}
	if err := f.log.Record(context.Background(), evs...); err != nil {
		f.t.Fatalf("record: %v", err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) get(path string) response {
	f.t.Helper()
	return f.do(http.MethodGet, path)
}

func (f *fixture) do(method, path string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// verifiers returns the verifier of the key served at /log/key.
func (f *fixture) verifiers() note.Verifiers {
	f.t.Helper()
	r := f.get("/log/key")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		f.t.Fatalf("GET /log/key: %d %q", r.status, r.header.Get("Content-Type"))
	}
	key := strings.TrimSpace(string(r.body))
	if key != f.log.VerifierKey() {
		f.t.Fatalf("served key %q, the log's is %q", key, f.log.VerifierKey())
	}
	v, err := auditlog.NewVerifier(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return note.VerifierList(v)
}

// checkpoint fetches and verifies /log/checkpoint.
func (f *fixture) checkpoint() auditlog.Checkpoint {
	f.t.Helper()
	r := f.get("/log/checkpoint")
	if r.status != http.StatusOK {
		f.t.Fatalf("GET /log/checkpoint: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		f.t.Errorf("checkpoint Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		f.t.Errorf("checkpoint Cache-Control %q", cc)
	}
	cp, err := auditlog.ParseCheckpoint(r.body, f.verifiers())
	if err != nil {
		f.t.Fatalf("the served checkpoint does not verify: %v\n%s", err, r.body)
	}
	return cp
}

// prover builds proofs the way any tlog-tiles client does: tessera's
// ProofBuilder over HTTP fetches of the served tiles.
func (f *fixture) prover(size uint64) *client.ProofBuilder {
	f.t.Helper()
	root, _ := url.Parse(f.srv.URL + "/log/")
	hf, err := client.NewHTTPFetcher(root, f.srv.Client())
	if err != nil {
		f.t.Fatal(err)
	}
	pb, err := client.NewProofBuilder(context.Background(), size, hf.ReadTile)
	if err != nil {
		f.t.Fatal(err)
	}
	return pb
}

func TestCheckpointAndKey(t *testing.T) {
	f := newFixture(t)
	f.record(3)
	cp := f.checkpoint()
	size, root, err := f.log.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != size || cp.Root != root || cp.Origin != "confidant/access-log" {
		t.Errorf("checkpoint %d %x %q, log head %d %x", cp.Size, cp.Root, cp.Origin, size, root)
	}
	r := f.get("/log/key")
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Errorf("key Cache-Control %q", cc)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("the public log is not readable cross-origin")
	}
	if r := f.do(http.MethodPost, "/log/checkpoint"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /log/checkpoint: %d", r.status)
	}
	if r := f.do(http.MethodHead, "/log/checkpoint"); r.status != http.StatusOK {
		t.Errorf("HEAD /log/checkpoint: %d", r.status)
	}
}

// The served tiles give, through a standard tlog-tiles client, the same
// inclusion proofs as the patients' bundles, and they verify against the
// served checkpoint.
func TestTilesProveInclusion(t *testing.T) {
	f := newFixture(t)
	f.record(600) // level 0: two full tiles and a partial one; level 1: a partial tile
	cp := f.checkpoint()
	if cp.Size < 600 {
		t.Fatalf("checkpoint size %d", cp.Size)
	}
	pb := f.prover(cp.Size)
	ctx := context.Background()
	for _, i := range []uint64{0, 1, 255, 256, 300, 511, 512, cp.Size - 1} {
		b, err := f.log.Bundle(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if b.Size != cp.Size {
			t.Fatalf("bundle at size %d, checkpoint %d", b.Size, cp.Size)
		}
		got, err := pb.InclusionProof(ctx, i)
		if err != nil {
			t.Fatalf("inclusion proof of %d over HTTP: %v", i, err)
		}
		if err := auditlog.VerifyInclusion(b.Commitment(), i, cp.Size, got, cp.Root); err != nil {
			t.Errorf("index %d: %v", i, err)
		}
		if len(got) != len(b.InclusionProof) {
			t.Fatalf("index %d: proof of %d hashes, bundle has %d", i, len(got), len(b.InclusionProof))
		}
		for k := range got {
			if !bytes.Equal(got[k], b.InclusionProof[k]) {
				t.Errorf("index %d: proof hash %d differs from the bundle's", i, k)
			}
		}
	}

	// Full tiles are immutable, partial ones are cached briefly.
	full := f.get("/log/tile/0/000")
	if full.status != http.StatusOK || len(full.body) != 256*32 {
		t.Fatalf("tile 0/000: %d, %d bytes", full.status, len(full.body))
	}
	if cc := full.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("full tile Cache-Control %q", cc)
	}
	if ct := full.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("tile Content-Type %q", ct)
	}
	w := cp.Size % 256
	part := f.get("/log/tile/0/002.p/" + strconv.FormatUint(w, 10))
	if part.status != http.StatusOK || uint64(len(part.body)) != w*32 {
		t.Fatalf("tile 0/002.p/%d: %d, %d bytes", w, part.status, len(part.body))
	}
	if cc := part.header.Get("Cache-Control"); strings.Contains(cc, "immutable") || cc == "" {
		t.Errorf("partial tile Cache-Control %q", cc)
	}
}

// A client holding an older checkpoint still gets its (now completed)
// partial tiles, and a consistency proof to the newer one.
func TestOlderCheckpointStillProvable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.record(300)
	old := f.checkpoint() // 300: 0/000 full, 0/001.p/44
	f.record(300)
	f.clock.advance(time.Minute)
	cur := f.checkpoint() // 600: 0/001 is full now; the store dropped 0/001.p/44
	if old.Size != 300 || cur.Size != 600 {
		t.Fatalf("sizes %d, %d", old.Size, cur.Size)
	}

	if _, err := f.log.ReadTile(ctx, 0, 1, 44); err == nil {
		t.Log("the store kept tile 0/001.p/44; TestPartialCutFromWider covers the fallback")
	}
	partial := f.get("/log/tile/0/001.p/44")
	full := f.get("/log/tile/0/001")
	if partial.status != http.StatusOK || full.status != http.StatusOK {
		t.Fatalf("tiles: %d, %d", partial.status, full.status)
	}
	if !bytes.Equal(partial.body, full.body[:44*32]) {
		t.Errorf("the old partial tile is not the prefix of the full one")
	}

	pb := f.prover(old.Size)
	b, err := f.log.Bundle(ctx, 299)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := pb.InclusionProof(ctx, 299)
	if err != nil {
		t.Fatal(err)
	}
	if err := auditlog.VerifyInclusion(b.Commitment(), 299, old.Size, proof, old.Root); err != nil {
		t.Errorf("inclusion at the old size: %v", err)
	}
	cons, err := f.prover(cur.Size).ConsistencyProof(ctx, old.Size, cur.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := auditlog.VerifyConsistency(old.Size, cur.Size, cons, old.Root, cur.Root); err != nil {
		t.Errorf("consistency: %v", err)
	}
}

// Tiles of the tree beyond the latest checkpoint are not served, although
// they are stored; once a checkpoint covers them, they are.
func TestTilesBeyondCheckpointNotServed(t *testing.T) {
	f := newFixture(t)
	f.record(200)
	if cp := f.checkpoint(); cp.Size != 200 {
		t.Fatalf("size %d", cp.Size)
	}
	f.record(100) // 300, not checkpointed for this handler until its clock moves
	if _, err := f.log.ReadTile(context.Background(), 0, 0, 256); err != nil {
		t.Fatalf("the full tile should be stored: %v", err)
	}
	for _, p := range []string{"/log/tile/0/000", "/log/tile/0/001.p/44", "/log/tile/0/000.p/201"} {
		if r := f.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s beyond the checkpoint: %d", p, r.status)
		}
	}
	if r := f.get("/log/tile/0/000.p/200"); r.status != http.StatusOK {
		t.Errorf("the checkpoint's own partial tile: %d", r.status)
	}
	f.clock.advance(2 * time.Second)
	for _, p := range []string{"/log/tile/0/000", "/log/tile/0/001.p/44", "/log/tile/0/000.p/200", "/log/tile/0/000.p/7"} {
		if r := f.get(p); r.status != http.StatusOK {
			t.Errorf("GET %s after the checkpoint moved: %d", p, r.status)
		}
	}
	if cp := f.checkpoint(); cp.Size != 300 {
		t.Errorf("size %d", cp.Size)
	}
}

// Entry bundles are for auditors with database access, never public.
func TestEntryBundlesNotServed(t *testing.T) {
	f := newFixture(t)
	f.record(300)
	f.checkpoint()
	for _, p := range []string{"/log/tile/entries/000", "/log/tile/entries/001.p/44", "/log/tile/entries/000.p/5"} {
		if r := f.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}

func TestBadPathsNotFound(t *testing.T) {
	f := newFixture(t)
	f.record(300)
	f.checkpoint()
	for _, p := range []string{
		"/log/", "/log/tile", "/log/tile/", "/log/tile/0", "/log/tile/0/", "/log/tile/x/000",
		"/log/tile/0/0", "/log/tile/0/00", "/log/tile/0/0000", "/log/tile/00/000", "/log/tile/+0/000", "/log/tile/-1/000",
		"/log/tile/64/000", "/log/tile/99999999999999999999/000", "/log/tile/0/x000/000", "/log/tile/0/x001",
		"/log/tile/0/000.p", "/log/tile/0/000.p/", "/log/tile/0/000.p/0", "/log/tile/0/000.p/256", "/log/tile/0/000.p/05",
		"/log/tile/0/000.p/-1", "/log/tile/0/000.p/5/6", "/log/tile/0/000.p/x", "/log/tile/0/abc", "/log/tile/0/.p/5",
		"/log/tile/0/x999/x999/x999/x999/x999/x999/x999/999", "/log/tile/0/999", "/log/tile/1/000", "/log/tile/63/000",
		"/log/tile/1/000.p/2", "/log/tile/0/001.p/45", "/log/tile/0/002", "/log/tile/entries", "/log/tile/entries/",
		"/log/checkpoint/", "/log/checkpoint.txt", "/log/key/x", "/log/tiles/0/000",
	} {
		r := f.get(p)
		if r.status != http.StatusNotFound && r.status != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	if r := f.get("/log/tile/1/000.p/1"); r.status != http.StatusOK || len(r.body) != 32 {
		t.Errorf("level 1 partial tile: %d, %d bytes", r.status, len(r.body))
	}
}

// Whatever the path, the handler answers without a server error or panic.
func FuzzTilePath(f *testing.F) {
	for _, s := range []string{"0/000", "0/001.p/44", "entries/000", "1/000.p/1", "0/x001/234.p/7", "63/x999/999", "0/000.p/256", "/", ""} {
		f.Add(s)
	}
	src := &fakeSource{size: 300}
	h := newHandler(src, WithLogger(quiet))
	f.Fuzz(func(t *testing.T, p string) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/log/tile/" + p}, Header: http.Header{}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(context.Background()))
		if rec.Code >= 500 {
			t.Fatalf("GET /log/tile/%s: %d", p, rec.Code)
		}
	})
}

// A log that cannot be read gives 503, not 500, and nothing cached.
func TestUnavailable(t *testing.T) {
	src := &fakeSource{size: 300, err: confidant.Errorf(confidant.KindUnavailable, "db_down", "down")}
	srv := httptest.NewServer(newHandler(src, WithLogger(quiet)))
	defer srv.Close()
	for _, p := range []string{"/log/checkpoint", "/log/tile/0/000"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// A partial tile the store no longer holds is cut from a wider one: the
// full tile, or the checkpoint's own partial tile.
func TestPartialCutFromWider(t *testing.T) {
	src := &fakeSource{size: 256 + 100, widths: map[int]bool{256: true, 100: true}}
	srv := httptest.NewServer(newHandler(src, WithLogger(quiet)))
	defer srv.Close()
	for p, want := range map[string]int{
		"/log/tile/0/000": 256, "/log/tile/0/000.p/3": 3, "/log/tile/0/001.p/100": 100, "/log/tile/0/001.p/42": 42,
		"/log/tile/0/001.p/101": -1, "/log/tile/0/001": -1,
	} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case want < 0 && resp.StatusCode != http.StatusNotFound:
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		case want >= 0 && (resp.StatusCode != http.StatusOK || len(b) != want*32):
			t.Errorf("GET %s: %d, %d bytes, want %d hashes", p, resp.StatusCode, len(b), want)
		case want > 0 && b[len(b)-1] != byte(want-1):
			t.Errorf("GET %s: last hash %d, want %d (the prefix of a wider tile)", p, b[len(b)-1], want-1)
		}
	}
}

// fakeSource is a log of a given size. Hash k of every tile is 32 bytes of
// value k, so that a prefix can be recognised. If widths is set, only tiles
// of those widths are stored.
type fakeSource struct {
	size   uint64
	err    error
	widths map[int]bool
}

func (s *fakeSource) Checkpoint(context.Context) (auditlog.Checkpoint, error) {
	if s.err != nil {
		return auditlog.Checkpoint{}, s.err
	}
	return auditlog.Checkpoint{Origin: "test", Size: s.size, Note: []byte("test\n")}, nil
}

func (s *fakeSource) VerifierKey() string { return "test+00000000+AA" }

func (s *fakeSource) ReadTile(_ context.Context, level, index uint64, width int) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !inTree(level, index, width, s.size) || (s.widths != nil && !s.widths[width]) {
		return nil, confidant.ErrNotFound
	}
	b := make([]byte, 0, width*auditlog.HashSize)
	for k := range width {
		b = append(b, bytes.Repeat([]byte{byte(k)}, auditlog.HashSize)...)
	}
	return b, nil
}
