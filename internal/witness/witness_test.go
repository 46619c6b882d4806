package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/auditlog"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

const origin = "example.org/test-log"

// testLog is a log whose checkpoints the tests sign.
type testLog struct {
	t      testing.TB
	tree   *testonly.Tree
	signer auditlog.Signer
	vkey   string
}

func newTestLog(t testing.TB) *testLog {
	skey, vkey, err := auditlog.GenerateKey(nil, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, tree: testonly.New(rfc6962.DefaultHasher), signer: s, vkey: vkey}
}

func (l *testLog) grow(n int) {
	for i := range n {
		l.tree.AppendData(fmt.Appendf(nil, "entry %d-%d", l.tree.Size(), i))
	}
}

func (l *testLog) checkpoint() auditlog.Checkpoint {
	cp, err := auditlog.SignCheckpoint(l.signer, origin, l.tree.Size(), [32]byte(l.tree.Hash()))
	if err != nil {
		l.t.Fatal(err)
	}
	return cp
}

func (l *testLog) proof(_ context.Context, old uint64) ([][]byte, error) {
	return l.tree.ConsistencyProof(old, l.tree.Size())
}

func newWitness(t testing.TB, dir, logKey string) *Witness {
	w, err := New(Config{Dir: dir, Name: "witness.example", LogOrigin: origin, LogKey: logKey})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func body(old uint64, proof [][]byte, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

func post(t testing.TB, h http.Handler, b []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/add-checkpoint", bytes.NewReader(b)))
	return rec
}

// cosigned checks that sigs is a valid cosignature of cp by w.
func cosigned(t *testing.T, w *Witness, cp auditlog.Checkpoint, sigs []byte) {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := bytes.Cut(cp.Note, []byte("\n\n"))
	n, err := note.Open(append(append(body, "\n\n"...), sigs...), note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		t.Fatalf("cosignature %q does not verify: %v", sigs, err)
	}
}

func TestGrowingLog(t *testing.T) {
	l := newTestLog(t)
	dir := t.TempDir()
	w := newWitness(t, dir, l.vkey)
	srv := httptest.NewServer(w)
	defer srv.Close()
	c := NewClient(srv.URL, nil)
	for _, n := range []int{0, 1, 5, 300, 0, 2} {
		l.grow(n)
		cp := l.checkpoint()
		sigs, err := c.Add(t.Context(), cp, l.proof)
		if err != nil {
			t.Fatalf("size %d: %v", cp.Size, err)
		}
		cosigned(t, w, cp, sigs)
		if w.Size() != cp.Size {
			t.Fatalf("witness size %d, want %d", w.Size(), cp.Size)
		}
	}
	// The state survives a restart, and a new client learns the size
	// from a 409.
	w2 := newWitness(t, dir, l.vkey)
	if w2.Size() != l.tree.Size() || w2.VerifierKey() != w.VerifierKey() {
		t.Fatalf("restart: size %d key %s", w2.Size(), w2.VerifierKey())
	}
	l.grow(7)
	srv2 := httptest.NewServer(w2)
	defer srv2.Close()
	if _, err := NewClient(srv2.URL, nil).Add(t.Context(), l.checkpoint(), l.proof); err != nil {
		t.Fatal(err)
	}
}

func TestRejections(t *testing.T) {
	l := newTestLog(t)
	w := newWitness(t, t.TempDir(), l.vkey)
	l.grow(10)
	cp10 := l.checkpoint()
	if rec := post(t, w, body(0, nil, cp10.Note)); rec.Code != 200 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	l.grow(10)
	cp20 := l.checkpoint()
	good, _ := l.proof(nil, 10)

	// Wrong signature: a checkpoint signed by another key of the same name.
	other := newTestLog(t)
	other.tree = l.tree
	if rec := post(t, w, body(10, good, other.checkpoint().Note)); rec.Code != http.StatusForbidden {
		t.Errorf("wrong signature: %d %s", rec.Code, rec.Body)
	}
	// Bad consistency proof.
	bad := [][]byte{bytes.Repeat([]byte{1}, 32), good[1]}
	if len(good) > 2 {
		bad = append(bad, good[2:]...)
	}
	if rec := post(t, w, body(10, bad, cp20.Note)); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("bad proof: %d %s", rec.Code, rec.Body)
	}
	// Stale old size: 409 with the witness's size.
	p5, _ := l.tree.ConsistencyProof(5, 20)
	rec := post(t, w, body(5, p5, cp20.Note))
	if rec.Code != http.StatusConflict || rec.Body.String() != "10\n" || rec.Header().Get("Content-Type") != SizeContentType {
		t.Errorf("stale old size: %d %q %q", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	// Old size 0 needs an empty proof (and then conflicts here).
	if rec := post(t, w, body(0, good, cp20.Note)); rec.Code != http.StatusConflict {
		t.Errorf("old 0: %d %s", rec.Code, rec.Body)
	}
	if w.Size() != 10 {
		t.Fatalf("size after refusals %d", w.Size())
	}
	if rec := post(t, w, body(10, good, cp20.Note)); rec.Code != 200 {
		t.Fatalf("good: %d %s", rec.Code, rec.Body)
	}

	// A rollback: the log offers its size-10 checkpoint again.
	if rec := post(t, w, body(20, nil, cp10.Note)); rec.Code != http.StatusBadRequest {
		t.Errorf("rollback with old 20: %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, w, body(10, nil, cp10.Note)); rec.Code != http.StatusConflict || rec.Body.String() != "20\n" {
		t.Errorf("rollback with old 10: %d %s", rec.Code, rec.Body)
	}
	var rb *RollbackError
	if _, err := NewClient("http://x", &http.Client{Transport: handlerTransport{w}}).Add(t.Context(), cp10, l.proof); !errors.As(err, &rb) || rb.WitnessSize != 20 {
		t.Errorf("client after rollback: %v", err)
	}
	// A fork at the same size: another tree of 20 entries.
	fork := newTestLog(t)
	fork.signer, fork.vkey = l.signer, l.vkey
	fork.grow(20)
	if _, err := NewClient("http://x", &http.Client{Transport: handlerTransport{w}}).Add(t.Context(), fork.checkpoint(), fork.proof); !errors.Is(err, ErrInconsistent) {
		t.Errorf("client on a fork: %v", err)
	}
	// Wrong method, path, garbage.
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/add-checkpoint", "", 405},
		{"POST", "/other", "", 404},
		{"POST", "/add-checkpoint", "old x\n\n", 400},
		{"POST", "/add-checkpoint", "old 01\n\n" + string(cp20.Note), 400},
		{"POST", "/add-checkpoint", "old 1\nnotbase64\n\n" + string(cp20.Note), 400},
		{"POST", "/add-checkpoint", "old 1\n" + strings.Repeat(base64.StdEncoding.EncodeToString(good[0])+"\n", 64) + "\n" + string(cp20.Note), 400},
		{"POST", "/add-checkpoint", "old 1\n\nnot a note", 400},
		{"POST", "/add-checkpoint", "old 1\n\n" + strings.Repeat("a", MaxRequestSize), 413},
	} {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
		if rec.Code != tc.code {
			t.Errorf("%s %s %.40q: %d, want %d", tc.method, tc.path, tc.body, rec.Code, tc.code)
		}
	}
	if w.Size() != 20 {
		t.Fatalf("size after refusals %d", w.Size())
	}
}

// handlerTransport serves requests with a handler in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Body = io.NopCloser(bytes.NewReader(rec.Body.Bytes()))
	return resp, nil
}

func TestWrongLogKey(t *testing.T) {
	_, vkey, _ := auditlog.GenerateKey(nil, "other.example/log")
	if _, err := New(Config{Dir: t.TempDir(), LogOrigin: origin, LogKey: vkey}); err == nil {
		t.Fatal("a log key of another origin was accepted")
	}
}

func FuzzAddCheckpoint(f *testing.F) {
	l := newTestLog(f)
	l.grow(3)
	cp3 := l.checkpoint()
	l.grow(4)
	cp7 := l.checkpoint()
	p, _ := l.proof(nil, 3)
	f.Add(body(0, nil, cp3.Note))
	f.Add(body(3, p, cp7.Note))
	f.Add(body(3, nil, cp7.Note))
	f.Add([]byte("old 3\n\n"))
	f.Add([]byte("old 18446744073709551615\n\n" + string(cp7.Note)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newWitness(t, dir, l.vkey)
		// Start from size 3, like a witness that cosigned cp3.
		if w.Size() == 0 {
			post(t, w, body(0, nil, cp3.Note))
		}
		rec := post(t, w, b)
		switch rec.Code {
		case 200, 400, 403, 404, 409, 413, 422:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code == 200 {
			r, err := ParseRequest(b)
			if err != nil {
				t.Fatalf("accepted an unparsable request: %v", err)
			}
			if _, err := auditlog.ParseCheckpoint(r.Checkpoint, note.VerifierList(mustVerifier(t, l.vkey))); err != nil {
				t.Fatalf("accepted an unverified checkpoint: %v", err)
			}
		}
	})
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := auditlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
