package seal_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/jackc/pgx/v5"
	"github.com/tink-crypto/tink-go/v2/tink"
)

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Mannerheimintie 5 A 12, 00100 HELSINKI", "mannerheimintie 5 a 12 00100 helsinki"},
		{"  mannerheimintie   5 a 12\t00100 Helsinki. ", "mannerheimintie 5 a 12 00100 helsinki"},
		{"Mannerheimintie 5a 12", "mannerheimintie 5a 12"}, // "5a" is not "5 a"
		{"Hämeentie 3–5 B", "hämeentie 3 5 b"},
		{"Ha\u0308meentie 3", "hämeentie 3"}, // decomposed ä: NFC
		{"HÄMEENTIE 3", "hämeentie 3"},
		{"Åkerlundinkatu 1 as. 4", "åkerlundinkatu 1 as 4"},
		{"PL 123 / c/o Virtanen", "pl 123 c o virtanen"},
		{"", ""},
		{" ,.-– ", ""},
	} {
		if got := seal.NormalizeAddress(tc.in); got != tc.want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAddressIndex(t *testing.T) { forEachBackend(t, testAddressIndex) }

// testAddressIndex: patients get the index of their normalised address
// when created and updated (none without an address, none once erased),
// and a staff account the same index for the same address, given at
// creation or later (SetStaffClose), never the address itself.
func testAddressIndex(t *testing.T, be backend) {
	e := newEnv(t, be)
	ctx := context.Background()
	home := "Kotikatu 1 A 2, 00100 Helsinki"
	pts := map[string]confidant.Patient{}
	for name, addr := range map[string]string{"a": home, "b": "kotikatu 1 a 2   00100 HELSINKI.", "c": "Muukatu 9, 00100 Helsinki", "none": "", "erased": home} {
		p := confidant.Patient{ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: "Aino", FamilyName: "Koti" + name, Address: addr, CreatedAt: t0}
		e.update(t, func(tx confidant.Tx) error { return tx.CreatePatient(ctx, p) })
		pts[name] = p
	}
	e.update(t, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, pts["erased"].ID, t0.Add(time.Hour)) })
	ix := sealedAddressIndexes(t, e)
	if len(ix["a"]) != seal.AddressIndexBits/8 || !bytes.Equal(ix["a"], ix["b"]) {
		t.Errorf("one address written two ways: indexes %x and %x", ix["a"], ix["b"])
	}
	if len(ix["c"]) == 0 || bytes.Equal(ix["a"], ix["c"]) {
		t.Errorf("another address: index %x (home: %x)", ix["c"], ix["a"])
	}
	if ix["none"] != nil || ix["erased"] != nil {
		t.Errorf("no address: %x; erased: %x; want none", ix["none"], ix["erased"])
	}

	// An update moves the index with the address; removing it removes it.
	c := pts["c"]
	c.Address = "KOTIKATU 1 A 2, 00100 Helsinki"
	e.update(t, func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, c) })
	if got := sealedAddressIndexes(t, e)["c"]; !bytes.Equal(got, ix["a"]) {
		t.Errorf("moved in: index %x, want %x", got, ix["a"])
	}
	c.Address = ""
	e.update(t, func(tx confidant.Tx) error { return tx.UpdatePatient(ctx, c) })
	if got := sealedAddressIndexes(t, e)["c"]; got != nil {
		t.Errorf("address removed: index %x", got)
	}

	// Staff: the same index from the same address, the address not kept.
	u := confidant.User{ID: confidant.NewID(), Username: "kotona", DisplayName: "Kai Koti", Role: confidant.RoleManager,
		ClinicIDs: []string{e.clinic.ID}, PasswordHash: "x", CreatedAt: t0, Address: "kotikatu 1a 2 00100 helsinki"}
	e.update(t, func(tx confidant.Tx) error { return tx.CreateUser(ctx, u) })
	staff := func() confidant.User {
		t.Helper()
		var got confidant.User
		e.view(t, func(tx confidant.Tx) error {
			var err error
			got, err = tx.User(ctx, u.ID)
			return err
		})
		if got.Address != "" || got.IdentityCode != "" {
			t.Errorf("the account reads back clear values: %q, %q", got.Address, got.IdentityCode)
		}
		return got
	}
	if got := staff(); len(got.AddressIndex) == 0 || bytes.Equal(got.AddressIndex, ix["a"]) {
		t.Errorf("'1a' is not '1 A': staff index %x, patient's %x", got.AddressIndex, ix["a"])
	}
	e.update(t, func(tx confidant.Tx) error {
		return tx.SetStaffClose(ctx, confidant.User{ID: u.ID, Address: home, IdentityCode: "010190-902S"})
	})
	got := staff()
	if !bytes.Equal(got.AddressIndex, ix["a"]) || len(got.IdentityIndex) == 0 {
		t.Errorf("after SetStaffClose: address index %x (want %x), identity index %x", got.AddressIndex, ix["a"], got.IdentityIndex)
	}
	// Kept as carried when no clear value is given; nil clears.
	e.update(t, func(tx confidant.Tx) error {
		return tx.SetStaffClose(ctx, confidant.User{ID: u.ID, IdentityIndex: got.IdentityIndex})
	})
	if again := staff(); !bytes.Equal(again.IdentityIndex, got.IdentityIndex) || again.AddressIndex != nil {
		t.Errorf("identity kept, address cleared: %x, %x", again.IdentityIndex, again.AddressIndex)
	}
	err := e.store.Update(ctx, func(tx confidant.Tx) error {
		return tx.SetStaffClose(ctx, confidant.User{ID: u.ID, IdentityCode: "not a code"})
	})
	if !confidant.IsKind(err, confidant.KindInvalid) {
		t.Errorf("SetStaffClose with a bad identity code: %v, want KindInvalid", err)
	}
	if err := e.store.Update(ctx, func(tx confidant.Tx) error {
		return tx.SetStaffClose(ctx, confidant.User{ID: confidant.NewID(), Address: home})
	}); !confidant.IsKind(err, confidant.KindNotFound) {
		t.Errorf("SetStaffClose of no account: %v, want KindNotFound", err)
	}
}

// sealedAddressIndexes returns the stored address index of every patient
// by the family name's suffix after "Koti".
func sealedAddressIndexes(t *testing.T, e *env) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var sps []confidant.SealedPatient
	err := e.backend.View(context.Background(), func(tx confidant.SealedTx) error {
		var err error
		sps, err = tx.ListPatients(context.Background(), confidant.SealedPatientFilter{IncludeErased: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var ps []confidant.Patient
	e.view(t, func(tx confidant.Tx) error {
		for _, sp := range sps {
			p, err := tx.Patient(context.Background(), sp.ID)
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return nil
	})
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.FamilyName
	}
	for _, sp := range sps {
		name := names[sp.ID]
		if !sp.ErasedAt.IsZero() {
			name = "Kotierased" // the erased patient's name is gone with its key
		}
		if len(name) > 4 {
			out[name[4:]] = sp.AddressIndex
		}
	}
	return out
}

func TestBackfillAddressIndexes(t *testing.T) { forEachBackend(t, testBackfillAddressIndexes) }

// testBackfillAddressIndexes: patients written before the address index
// (the column empty, every patient listed as pending, as migration
// 0017/0018 leaves them) get their index from the backfill, the same as a
// patient written now gets. An interrupted backfill keeps what it
// committed and resumes; a finished one decrypts nothing.
func testBackfillAddressIndexes(t *testing.T, be backend) {
	defer seal.SetAddressBatch(2)()
	e := newEnv(t, be)
	ctx := context.Background()
	addrs := []string{"Kotikatu 1", "Kotikatu 1.", "Muukatu 2", "", "Kolmaskatu 3", "Neljäskatu 4", "Viideskatu 5"}
	var ids []string
	for i, a := range addrs {
		p := confidant.Patient{ID: confidant.NewID(), ClinicID: e.clinic.ID, GivenName: "Aino", FamilyName: "Vanha", Address: a,
			CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		e.update(t, func(tx confidant.Tx) error { return tx.CreatePatient(ctx, p) })
		ids = append(ids, p.ID)
	}
	erased := ids[4]
	e.update(t, func(tx confidant.Tx) error { return tx.ErasePatient(ctx, erased, t0.Add(time.Hour)) })
	want := storedAddressIndexes(t, e.backend)
	if len(want[ids[0]]) == 0 || !bytes.Equal(want[ids[0]], want[ids[1]]) || want[ids[3]] != nil || want[erased] != nil {
		t.Fatalf("indexes as written: %x", want)
	}
	// The database as the migration leaves one written before: no index,
	// everyone pending (the erased patient too, as if erased since).
	rawExec(t, e.db, `UPDATE patients SET address_index = NULL`,
		`INSERT INTO address_index_pending (patient_id) SELECT id FROM patients`)
	for id, ix := range storedAddressIndexes(t, e.backend) {
		if ix != nil {
			t.Fatalf("patient %s still has an index", id)
		}
	}

	// Interrupted: the second transaction fails (as a crash would end it).
	n, err := seal.BackfillAddressIndexes(ctx, &failingStore{SealedStore: e.backend, failAt: 2}, e.keys)
	if err == nil || n != 2 {
		t.Fatalf("interrupted backfill: %d done, %v; want 2 and an error", n, err)
	}
	if got := pending(t, e.backend); len(got) != len(ids)-2 {
		t.Errorf("after the interruption %d pending, want %d", len(got), len(ids)-2)
	}

	// Run again: the rest, with the same indexes as written now.
	count := &countingRing{Keyring: e.keys}
	if n, err = seal.BackfillAddressIndexes(ctx, e.backend, count); err != nil || n != len(ids)-2 {
		t.Fatalf("resumed backfill: %d, %v; want %d", n, err, len(ids)-2)
	}
	got := storedAddressIndexes(t, e.backend)
	for i, id := range ids {
		if !bytes.Equal(got[id], want[id]) {
			t.Errorf("patient %d (%q): backfilled index %x, want %x", i, addrs[i], got[id], want[id])
		}
	}
	if p := pending(t, e.backend); len(p) != 0 {
		t.Errorf("%d still pending", len(p))
	}

	// And again: nothing to do, nothing decrypted.
	count.n.Store(0)
	if n, err = seal.BackfillAddressIndexes(ctx, e.backend, count); err != nil || n != 0 || count.n.Load() != 0 {
		t.Errorf("third run: %d done, %d keysets opened, %v; want nothing", n, count.n.Load(), err)
	}
}

func storedAddressIndexes(t *testing.T, be confidant.SealedStore) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := be.View(context.Background(), func(tx confidant.SealedTx) error {
		ps, err := tx.ListPatients(context.Background(), confidant.SealedPatientFilter{IncludeErased: true})
		for _, p := range ps {
			out[p.ID] = p.AddressIndex
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pending(t *testing.T, be confidant.SealedStore) []string {
	t.Helper()
	var ids []string
	err := be.View(context.Background(), func(tx confidant.SealedTx) error {
		var err error
		ids, err = tx.AddressIndexPending(context.Background(), 1000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// rawExec runs statements on d's database directly, as an older binary's
// data or a database writer would have left it.
func rawExec(t *testing.T, d *testDB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	switch d.kind {
	case sqliteKind:
		db, err := sql.Open("sqlite3", "file:"+d.path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	case postgresKind:
		conn, err := pgx.Connect(ctx, d.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `SET search_path TO `+pgx.Identifier{d.schema}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		for _, q := range stmts {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// failingStore fails its failAt-th Update (counting from 1) after running
// its function, so that nothing of that transaction is kept.
type failingStore struct {
	confidant.SealedStore
	calls, failAt int
}

var errCrash = errors.New("crash")

func (s *failingStore) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	s.calls++
	return s.SealedStore.Update(ctx, func(tx confidant.SealedTx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.calls == s.failAt {
			return errCrash
		}
		return nil
	})
}

// countingRing counts the patient keysets opened.
type countingRing struct {
	seal.Keyring
	n atomic.Int64
}

func (c *countingRing) PatientAEAD(wk confidant.WrappedKey) (tink.AEAD, error) {
	c.n.Add(1)
	return c.Keyring.PatientAEAD(wk)
}
