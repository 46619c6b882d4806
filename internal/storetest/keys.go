package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

func countKeys(t *testing.T, s confidant.SealedStore, notKEK string) (total, other int) {
	t.Helper()
	err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		total, other, err = tx.CountPatientKeys(ctx, notKEK)
		return err
	})
	if err != nil {
		t.Fatalf("CountPatientKeys: %v", err)
	}
	return total, other
}

func testPatientKeys(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	get := func() (confidant.WrappedKey, error) {
		t.Helper()
		var k confidant.WrappedKey
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			k, err = tx.PatientKey(ctx, f.patient.ID)
			return err
		})
		return k, err
	}
	_, err := get()
	wantKind(t, "PatientKey before PutPatientKey", err, confidant.KindNotFound)
	if total, other := countKeys(t, s, "kek-1"); total != 0 || other != 0 {
		t.Errorf("CountPatientKeys of an empty store = %d, %d; want 0, 0", total, other)
	}

	k := confidant.WrappedKey{Owner: f.patient.ID, KEKID: "kek-1", Wrapped: sealed(), UpdatedAt: base}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.PutPatientKey(ctx, k) })
	got, err := get()
	if err != nil {
		t.Fatalf("PatientKey: %v", err)
	}
	diff(t, "PatientKey", k, got)
	if got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt location = %v, want UTC", got.UpdatedAt.Location())
	}

	// Putting again replaces (a KEK rotation re-wraps).
	k2 := confidant.WrappedKey{Owner: f.patient.ID, KEKID: "kek-2", Wrapped: sealed(), UpdatedAt: at(time.Hour)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.PutPatientKey(ctx, k2) })
	got, err = get()
	if err != nil {
		t.Fatalf("PatientKey after replacing: %v", err)
	}
	diff(t, "PatientKey after replacing", k2, got)
	if total, other := countKeys(t, s, "kek-2"); total != 1 || other != 0 {
		t.Errorf("CountPatientKeys(current KEK) = %d, %d; want 1, 0", total, other)
	}
	if total, other := countKeys(t, s, "kek-1"); total != 1 || other != 1 {
		t.Errorf("CountPatientKeys(old KEK) = %d, %d; want 1, 1", total, other)
	}

	// A patient key is not a system key.
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.SystemKey(ctx, f.patient.ID)
		return err
	})
	wantKind(t, "SystemKey named like a patient", err, confidant.KindNotFound)
}

func testListPatientKeys(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	var patients []confidant.SealedPatient
	var keys []confidant.WrappedKey
	for i := range 7 {
		p := newPatient(f.clinic.ID)
		kek := "kek-old"
		if i%3 == 0 {
			kek = "kek-new"
		}
		patients = append(patients, p)
		keys = append(keys, confidant.WrappedKey{Owner: p.ID, KEKID: kek, Wrapped: sealed(), UpdatedAt: at(time.Duration(i) * time.Minute)})
	}
	noKey := newPatient(f.clinic.ID) // a patient without a key is not listed
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, p := range append(patients, noKey) {
			if err := tx.CreatePatient(ctx, p); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := tx.PutPatientKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(keys, func(a, b confidant.WrappedKey) int { return strings.Compare(a.Owner, b.Owner) })
	var old []confidant.WrappedKey
	for _, k := range keys {
		if k.KEKID == "kek-old" {
			old = append(old, k)
		}
	}

	tests := []struct {
		name string
		f    confidant.KeyFilter
		want []confidant.WrappedKey
	}{
		{"all, by owner", confidant.KeyFilter{}, keys},
		{"not the new KEK", confidant.KeyFilter{NotKEK: "kek-new"}, old},
		{"not an unknown KEK", confidant.KeyFilter{NotKEK: "kek-unknown"}, keys},
		{"after", confidant.KeyFilter{After: keys[2].Owner}, keys[3:]},
		{"after and limit", confidant.KeyFilter{After: keys[2].Owner, Limit: 2}, keys[3:5]},
		{"limit", confidant.KeyFilter{Limit: 3}, keys[:3]},
		{"after the last", confidant.KeyFilter{After: keys[len(keys)-1].Owner}, nil},
		{"not the new KEK, after and limit", confidant.KeyFilter{NotKEK: "kek-new", After: old[0].Owner, Limit: 2}, old[1:3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.WrappedKey, error) {
				return tx.ListPatientKeys(ctx, tc.f)
			})
			diff(t, "ListPatientKeys", tc.want, got)
		})
	}

	// A resumable rotation: pages of two, re-wrapping as it goes.
	t.Run("rotation", func(t *testing.T) {
		after := ""
		for page := 0; ; page++ {
			if page > len(keys) {
				t.Fatalf("rotation did not finish")
			}
			var done bool
			update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
				list, err := tx.ListPatientKeys(ctx, confidant.KeyFilter{NotKEK: "kek-new", After: after, Limit: 2})
				if err != nil {
					return err
				}
				if len(list) == 0 {
					done = true
					return nil
				}
				for _, k := range list {
					k.KEKID, k.Wrapped, k.UpdatedAt = "kek-new", sealed(), at(time.Hour)
					if err := tx.PutPatientKey(ctx, k); err != nil {
						return err
					}
					after = k.Owner
				}
				return nil
			})
			if done {
				break
			}
		}
		if total, other := countKeys(t, s, "kek-new"); total != len(keys) || other != 0 {
			t.Errorf("after rotation CountPatientKeys = %d, %d; want %d, 0", total, other, len(keys))
		}
	})
}

func testSystemKeys(t *testing.T, s confidant.SealedStore) {
	get := func(name string) (confidant.WrappedKey, error) {
		t.Helper()
		var k confidant.WrappedKey
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			k, err = tx.SystemKey(ctx, name)
			return err
		})
		return k, err
	}
	_, err := get("blind-index")
	wantKind(t, "SystemKey before PutSystemKey", err, confidant.KindNotFound)

	bi := confidant.WrappedKey{Owner: "blind-index", KEKID: "kek-1", Wrapped: sealed(), UpdatedAt: base}
	audit := confidant.WrappedKey{Owner: "audit", KEKID: "kek-1", Wrapped: sealed(), UpdatedAt: base}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.PutSystemKey(ctx, bi); err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, audit)
	})
	for _, want := range []confidant.WrappedKey{bi, audit} {
		got, err := get(want.Owner)
		if err != nil {
			t.Fatalf("SystemKey(%s): %v", want.Owner, err)
		}
		diff(t, fmt.Sprintf("SystemKey(%s)", want.Owner), want, got)
	}

	bi2 := confidant.WrappedKey{Owner: "blind-index", KEKID: "kek-2", Wrapped: sealed(), UpdatedAt: at(time.Hour)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.PutSystemKey(ctx, bi2) })
	got, err := get("blind-index")
	if err != nil {
		t.Fatalf("SystemKey after replacing: %v", err)
	}
	diff(t, "SystemKey after replacing", bi2, got)
	got, err = get("audit")
	if err != nil {
		t.Fatalf("SystemKey(audit) after replacing another: %v", err)
	}
	diff(t, "SystemKey(audit) after replacing another", audit, got)

	// System keys are not patient keys.
	if total, _ := countKeys(t, s, ""); total != 0 {
		t.Errorf("CountPatientKeys with only system keys = %d, want 0", total)
	}
}
