package baseline_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/baseline"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

var (
	_ seal.Keyring        = baseline.Keyring{}
	_ service.Auditor     = baseline.Discard{}
	_ service.AuditReader = baseline.Discard{}
)

// The baseline stores values of exactly the encrypted sizes.
func TestSizesMatchEncrypted(t *testing.T) {
	kr := testfix.Keyring(t)
	ik, err := kr.NewSystemKey(seal.IndexKeyName)
	if err != nil || kr.LoadIndexKey(ik) != nil {
		t.Fatal(err)
	}
	wk, enc, err := kr.NewPatientKey(confidant.NewID())
	if err != nil {
		t.Fatal(err)
	}
	pwk, plain, _ := baseline.Keyring{}.NewPatientKey("p")
	// A wrapped Tink keyset's size varies by a few bytes with its random
	// key ids (two varints in the keyset): 144 is the largest.
	if d := len(pwk.Wrapped) - len(wk.Wrapped); d < 0 || d > 8 {
		t.Errorf("wrapped key: baseline %d bytes, encrypted %d", len(pwk.Wrapped), len(wk.Wrapped))
	}
	for _, n := range []int{0, 1, 100, 4096} {
		pt := bytes.Repeat([]byte("x"), n)
		c1, err := enc.Encrypt(pt, []byte("ad"))
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := plain.Encrypt(pt, []byte("ad"))
		if len(c1) != len(c2) {
			t.Errorf("%d bytes: baseline %d, encrypted %d", n, len(c2), len(c1))
		}
		back, err := plain.Decrypt(c2, nil)
		if err != nil || !bytes.Equal(back, pt) {
			t.Errorf("%d bytes: round trip %v", n, err)
		}
		if !bytes.Contains(c2, pt) {
			t.Errorf("the baseline is expected to store the plaintext")
		}
	}
	if _, err := plain.Decrypt([]byte("short"), nil); err == nil {
		t.Error("a foreign value decrypted")
	}
	for _, bits := range []int{16, 24, 32} {
		b1, err := kr.BlindIndex("patients", "surname", "virtanen", bits)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := baseline.Keyring{}.BlindIndex("patients", "surname", "virtanen", bits)
		if len(b1) != len(b2) {
			t.Errorf("%d-bit index: baseline %d bytes, encrypted %d", bits, len(b2), len(b1))
		}
	}
}

// Through NoLog, a sealed store's transactions accept access-log events and
// write none; without it they fail closed.
func TestNoLog(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "confidant.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := confidant.AuditEvent{Time: time.Now(), Action: "chart.read", Outcome: confidant.OutcomeOK}
	err = seal.New(db, baseline.Keyring{}).Update(ctx, func(tx confidant.Tx) error { return tx.Audit(ev) })
	if err != confidant.ErrNoAccessLog {
		t.Fatalf("without NoLog: %v, want ErrNoAccessLog", err)
	}
	st := seal.New(baseline.NoLog(db), baseline.Keyring{})
	if err := st.Update(ctx, func(tx confidant.Tx) error { return tx.Audit(ev) }); err != nil {
		t.Fatal(err)
	}
	var size uint64
	db.View(ctx, func(tx confidant.SealedTx) error {
		size, err = tx.LogSize(ctx)
		return err
	})
	if err != nil || size != 0 {
		t.Fatalf("log size %d, %v", size, err)
	}
	if err := (baseline.Discard{}).Record(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if evs, err := (baseline.Discard{}).Query(ctx, confidant.EventFilter{}); len(evs) != 0 || err != nil {
		t.Fatal(evs, err)
	}
}
