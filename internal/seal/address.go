package seal

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"unicode"

	confidant "github.com/confidanthealth/confidant"
	"golang.org/x/text/unicode/norm"
)

// Addresses as blind indexes, for the detector's staff_close rule: a staff
// member opening the record of a patient who lives at their address
// (docs/INCIDENTS.md). Patients' addresses are sealed in their data; the
// index of the normalised address is stored next to them, and a staff
// account stores only the index of the address given for it. The two are
// compared for equality, never searched (docs/SECURITY.md, "Blind
// indexes").

// NormalizeAddress is what an address index is computed from: the address
// lower-cased and in Unicode NFC, with every run of characters other than
// letters, digits and combining marks (spaces, punctuation, symbols,
// control characters) turned into one space, and none at either end. So
// "Mannerheimintie 5 A 12, 00100 HELSINKI" and "mannerheimintie 5 a 12
// 00100 Helsinki." are one address; "5 A" and "5A" are not. An address
// with no letter or digit is "" (no index).
func NormalizeAddress(s string) string {
	s = norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
	var b strings.Builder
	gap := false
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r) {
			gap = true
			continue
		}
		if gap && b.Len() > 0 {
			b.WriteByte(' ')
		}
		gap = false
		b.WriteRune(r)
	}
	return b.String()
}

// addressIndex is the blind index of an address; nil for one that
// normalises to "".
func addressIndex(k Keyring, address string) ([]byte, error) {
	a := NormalizeAddress(address)
	if a == "" {
		return nil, nil
	}
	return k.BlindIndex(indexTable, fieldAddress, a, AddressIndexBits)
}

// SetStaffClose replaces the identity and address indexes of an
// authenticated account: each computed from its clear value when given
// (the identity code as a patient's is, the address as a patient's), else
// kept as u carries it. The clear values are not stored.
func (t *tx) SetStaffClose(ctx context.Context, u confidant.User) error {
	cur, err := t.user(ctx, u.ID)
	if err != nil {
		return err
	}
	identity, address := u.IdentityIndex, u.AddressIndex
	if u.IdentityCode != "" {
		code, _, err := confidant.ParseIdentityCode(u.IdentityCode)
		if err != nil {
			return err
		}
		if identity, err = t.s.keys.BlindIndex(indexTable, fieldIdentity, code, IdentityIndexBits); err != nil {
			return err
		}
	}
	if u.Address != "" {
		if address, err = addressIndex(t.s.keys, u.Address); err != nil {
			return err
		}
	}
	if err := t.SealedTx.SetUserClose(ctx, cur.ID, identity, address); err != nil {
		return err
	}
	cur.IdentityIndex, cur.AddressIndex = identity, address
	t.users[cur.ID] = cur
	return nil
}

// addressBatch is how many patients one transaction of the backfill
// indexes (each needs its keyset unwrapped).
var addressBatch = 50

// BackfillAddressIndexes computes the address index of the patients
// written before patients had one: those the migration that added the
// index listed as pending. Each transaction indexes a batch and takes it
// off the list, so the backfill can be interrupted and run again (it
// resumes where it stopped; indexing a patient twice gives the same
// index), and once the list is empty a run costs one query and decrypts
// nothing. A patient erased meanwhile is only taken off the list; one
// whose data fails its integrity check is reported (its id only), left
// without an address index and taken off the list, so that it does not
// stop every start. It returns the patients taken off the list.
func BackfillAddressIndexes(ctx context.Context, backend confidant.SealedStore, k Keyring) (int, error) {
	s := New(backend, k)
	done := 0
	for {
		var ids []string
		err := backend.Update(ctx, func(stx confidant.SealedTx) error {
			t := s.newTx(stx)
			var err error
			if ids, err = stx.AddressIndexPending(ctx, addressBatch); err != nil {
				return err
			}
			for _, id := range ids {
				var idx []byte
				p, err := t.Patient(ctx, id)
				switch {
				case errors.Is(err, errIntegrity):
					slog.Warn("a patient's data failed its integrity check; it gets no address index", "patient", id)
				case confidant.IsKind(err, confidant.KindNotFound): // gone, or its keyset is
				case err != nil:
					return err
				case p.ErasedAt.IsZero():
					if idx, err = addressIndex(k, p.Address); err != nil {
						return err
					}
				}
				if err := stx.SetAddressIndex(ctx, id, idx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(ids)
		if len(ids) < addressBatch {
			return done, nil
		}
	}
}
