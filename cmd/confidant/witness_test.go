package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/witness"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// TestWitness: a server with a witness gets its checkpoints cosigned, and
// refuses to serve a restored older copy of its database because the
// witness has seen a larger log.
func TestWitness(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "10", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	cfg0 := resolve(t, "--data", data)
	a, err := openApp(t.Context(), cfg0, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vkey := a.log.VerifierKey()
	recordEvents(t, a, 3)
	before, _, _ := a.log.Head(t.Context()) // the demo's record writes and these 3
	a.Close()
	db := sqlitePath(cfg0)
	copyFile(t, db, filepath.Join(dir, "old.db"))

	// The witness, in-process, with its own directory and key.
	wdir := filepath.Join(dir, "witness")
	code, out, errOut := runCmd(t, "witness", "key", "--witness-data", wdir)
	if code != 0 || !strings.HasPrefix(out, "confidant-witness+") {
		t.Fatalf("witness key: %d %s %s", code, out, errOut)
	}
	w, err := witness.New(witness.Config{Dir: wdir, LogOrigin: cfg0.LogOrigin, LogKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	if w.VerifierKey() != strings.TrimSpace(out) {
		t.Fatalf("witness key %s, printed %s", w.VerifierKey(), out)
	}
	ws := httptest.NewServer(w)
	defer ws.Close()

	cfg := resolve(t, "--data", data, "--witnesses", ws.URL, "--checkpoint-every", "100ms", "--log-level", "error")
	a, err = openApp(t.Context(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, a, ln, newLogger(io.Discard, cfg.LogLevel), func(u string) { ready <- u })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	// The start-up check gave the witness the log as it was; the server's
	// background work (the outbox's first round unwraps its keyset, a
	// key.unwrap event) may have added events since, which the
	// checkpointer submits next.
	if got := w.Size(); got < before || before < 3 {
		t.Fatalf("at start the witness holds size %d, the log held %d before", got, before)
	}
	recordEvents(t, a, 5)
	size, _, _ := a.log.Head(t.Context())
	// At least that size: the detector may add events of its own (these
	// reads are of patients in nobody's care: no_care alerts).
	for deadline := time.Now().Add(10 * time.Second); w.Size() < size; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the witness holds size %d, the log %d", w.Size(), size)
		}
	}
	// The server stops (its checkpointer and detector with it), so that
	// the checkpoint submitted below is the log's last.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The cosignature verifies with the witness's key.
	cp, err := a.log.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := witness.NewClient(ws.URL, nil).Add(t.Context(), cp, func(ctx context.Context, old uint64) ([][]byte, error) {
		return a.log.ConsistencyProof(ctx, old, cp.Size)
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := fnote.NewVerifierForCosignatureV1(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := bytes.Cut(cp.Note, []byte("\n\n"))
	if _, err := note.Open(append(append(body, "\n\n"...), sigs...), note.VerifierList(v)); err != nil {
		t.Fatalf("cosignature: %v", err)
	}
	a.Close()
	size = w.Size() // what the witness saw last

	// Restore the older copy: the witness exposes the rollback.
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(db + s)
	}
	copyFile(t, filepath.Join(dir, "old.db"), db)
	code, _, errOut = runCmd(t, "serve", "--data", data, "--addr", "127.0.0.1:0", "--witnesses", ws.URL)
	if code != 1 || !strings.Contains(errOut, "REFUSING TO SERVE") || !strings.Contains(errOut, "rollback") {
		t.Fatalf("serve after rollback: %d %s", code, errOut)
	}
	if w.Size() != size {
		t.Fatalf("the witness moved to %d", w.Size())
	}

	// witness serve needs the log key.
	if code, _, errOut := runCmd(t, "witness", "serve", "--witness-data", wdir); code != 1 || !strings.Contains(errOut, "--log-key") {
		t.Fatalf("witness serve without a key: %d %s", code, errOut)
	}
}

// recordEvents appends n events to a's access log.
func recordEvents(t *testing.T, a *app, n int) {
	t.Helper()
	for i := range n {
		if err := a.log.Record(t.Context(), confidant.AuditEvent{
			Time: time.Now(), ActorID: "someone", Role: confidant.RoleTherapist, Action: "chart.read",
			PatientID: confidant.NewID(), Outcome: confidant.OutcomeOK, Purpose: "witness test " + string(rune('a'+i)),
		}); err != nil {
			t.Fatal(err)
		}
	}
}
