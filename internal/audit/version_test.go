package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"golang.org/x/mod/sumdb/note"
)

// writeV1Events appends n events to the stored log exactly as the log
// wrote them before event version 2: version 1 encodings, and free text
// (purpose and client address, no salt) sealed only when not empty. It
// uses nothing of a running Log, only the store, the tiles and the audit
// key.
func writeV1Events(t *testing.T, db confidant.SealedStore, k Keys, n int, patient string) {
	t.Helper()
	ctx := t.Context()
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		wk, err := tx.SystemKey(ctx, KeyName)
		if err != nil {
			return err
		}
		a, err := k.PatientAEAD(wk)
		if err != nil {
			return err
		}
		ltx, err := logTx(tx)
		if err != nil {
			return err
		}
		start, err := ltx.LogSize(ctx)
		if err != nil {
			return err
		}
		var stored []confidant.StoredEvent
		var leaves [][32]byte
		for i := range n {
			e := auditlog.Event{
				Version: auditlog.EventV1, Index: start + uint64(i),
				Time:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second),
				ActorID: "actor" + fmt.Sprint(i%3), Role: "therapist", Action: "chart.read", PatientID: patient,
				Outcome: confidant.OutcomeOK, SessionID: "sess-old-1", PatientSeq: uint64(i + 1), PatientPrev: int64(start) + int64(i) - 1,
			}
			if i == 0 {
				e.PatientPrev = -1
			}
			if i%2 == 0 {
				e.Purpose, e.Client = fmt.Sprint("reason ", i), "198.51.100.7"
			}
			var sealed []byte
			if e.Purpose != "" || e.Client != "" {
				b := fmt.Appendf(nil, `{"p":%q,"c":%q}`, e.Purpose, e.Client)
				if sealed, err = a.Encrypt(b, freeAD(e.Index)); err != nil {
					return err
				}
			}
			canon, err := e.MarshalCanonical()
			if err != nil {
				return err
			}
			nonce, err := auditlog.NewNonce(nil)
			if err != nil {
				return err
			}
			leaf := auditlog.LeafHash(nonce, canon)
			leaves = append(leaves, leaf)
			stored = append(stored, confidant.StoredEvent{
				Index: e.Index, Time: e.Time, ActorID: e.ActorID, Role: confidant.Role(e.Role), Action: e.Action,
				PatientID: e.PatientID, Outcome: e.Outcome, SessionID: e.SessionID, PatientSeq: e.PatientSeq,
				PatientPrev: e.PatientPrev, Nonce: nonce[:], Sealed: sealed, Leaf: leaf[:],
			})
		}
		if err := ltx.AppendEvents(ctx, stored); err != nil {
			return err
		}
		st, err := auditlog.LoadState(ctx, tiles{ctx, ltx}, start)
		if err != nil {
			return err
		}
		_, _, err = auditlog.NewAppender(st).Append(ctx, tiles{ctx, ltx}, leaves)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVersion1LogStillVerifies: a log written before event version 2 (its
// events of version 1) opens, grows with events of version 2, verifies
// whole, and gives bundles of both versions that check: the old ones as
// before, the new ones without the session id or the client address.
func TestVersion1LogStillVerifies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kpath := filepath.Join(dir, "keys", "kek.json")
	if err := keys.CreateFile(kpath, nil); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Open(keys.Config{File: kpath})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "confidant.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	open := func() *Log {
		l, err := Open(ctx, db, k, Config{Origin: "test.example/log", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open() // creates the audit key
	l.Close()
	const old = 5
	patient := confidant.NewID()
	writeV1Events(t, db, k, old, patient)

	l = open()
	defer l.Close()
	for i := range 3 {
		err := l.Record(ctx, confidant.AuditEvent{
			Time: time.Now(), ActorID: "actor1", Role: confidant.RoleTherapist, Action: "chart.read", PatientID: patient,
			Outcome: confidant.OutcomeOK, Purpose: fmt.Sprint("new reason ", i), SessionID: "sess-new-1", Client: "203.0.113.9",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(ctx, nil, nil); err != nil {
		t.Fatalf("verify a log of both versions: %v", err)
	}
	v, err := auditlog.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	// check returns the event of a bundle, and what the patient downloads:
	// the bundle's JSON and the event's bytes in it.
	check := func(index uint64) (auditlog.Event, [][]byte) {
		t.Helper()
		b, err := l.Bundle(ctx, index)
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := auditlog.ParseBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		e, err := auditlog.CheckBundle(parsed, note.VerifierList(v))
		if err != nil {
			t.Fatalf("bundle %d does not check: %v", index, err)
		}
		return e, [][]byte{data, parsed.Event}
	}
	reveals := func(got [][]byte, s string) bool {
		for _, b := range got {
			if bytes.Contains(b, []byte(s)) {
				return true
			}
		}
		return false
	}
	// An old event: version 1, exactly as before.
	e, got := check(2)
	if !reveals(got, "198.51.100.7") {
		t.Errorf("the old event's bundle lacks its client address: this test checks nothing")
	}
	if e.Version != auditlog.EventV1 || e.Client != "198.51.100.7" || e.SessionID != "sess-old-1" || e.Purpose != "reason 2" {
		t.Errorf("old event: version %d, purpose/client/session as stored: %v %v %v", e.Version,
			e.Purpose == "reason 2", e.Client == "198.51.100.7", e.SessionID == "sess-old-1")
	}
	// A new one: version 2, with the purpose the patient sees, and the
	// session and client address only as hashes.
	e, got = check(old + 1)
	if e.Version != auditlog.EventV2 || e.Client != "" || e.SessionID != "" || e.Purpose != "new reason 1" {
		t.Errorf("new event: version %d, purpose kept %v, client or session present %v", e.Version,
			e.Purpose == "new reason 1", e.Client != "" || e.SessionID != "")
	}
	for _, s := range []string{"203.0.113.9", "sess-new-1"} {
		if reveals(got, s) {
			t.Errorf("the new event's bundle reveals its client address or session id")
		}
	}
	// The hashes are those of the stored values under the sealed salt.
	evs, err := l.Query(ctx, confidant.EventFilter{PatientID: patient, Before: old + 2, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("query: %d events, %v", len(evs), err)
	}
	var ad []byte
	f, err := l.openFree(evs[0].Sealed, evs[0].Index, &ad)
	if err != nil || f.Salt == (salt{}) {
		t.Fatalf("the new event's free text has no salt (%v)", err)
	}
	if e.ClientHash != auditlog.HashClient(f.Salt, "203.0.113.9") || e.SessionHash != auditlog.HashSession(f.Salt, "sess-new-1") {
		t.Errorf("the hashes are not of the stored values under the sealed salt")
	}
}
