package seal

import (
	"bytes"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// FuzzOpenTOTPSecret feeds arbitrary bytes to the decoder of sealed TOTP
// secrets: as stored data they open only if they are exactly a secret
// sealed for that user (a seed), else fail with an integrity error and
// never panic; as a secret they seal when they have a valid size, open
// back to themselves for their user and fail for another.
func FuzzOpenTOTPSecret(f *testing.F) {
	_, a := fuzzKeys(f)
	const user, other = "fuzz-user", "fuzz-other"
	valid := map[string]bool{}
	for _, n := range []int{minTOTPSecret, 20, maxTOTPSecret} {
		sealed, err := sealTOTPSecret(a, user, bytes.Repeat([]byte{0xA5}, n))
		if err != nil {
			f.Fatal(err)
		}
		valid[string(sealed)] = true
		f.Add(sealed, bytes.Repeat([]byte{1}, n))
		f.Add(sealed[:len(sealed)-1], []byte{})
		f.Add(append([]byte{2}, sealed[1:]...), bytes.Repeat([]byte{0}, n+45))
	}
	// An authenticated value of the wrong size.
	ct, err := a.Encrypt([]byte("short"), totpAD(user))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{format}, ct...), []byte("x"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{format}, bytes.Repeat([]byte{0xFF}, 65))
	f.Fuzz(func(t *testing.T, data, raw []byte) {
		got, err := openTOTPSecret(a, user, data)
		if err == nil {
			if !valid[string(data)] || len(got) < minTOTPSecret || len(got) > maxTOTPSecret {
				t.Fatalf("arbitrary stored bytes opened as a secret of %d bytes", len(got))
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("stored bytes: %v, want an integrity error", err)
		}

		sealed, err := sealTOTPSecret(a, user, raw)
		if len(raw) < minTOTPSecret || len(raw) > maxTOTPSecret {
			if confidant.KindOf(err) != confidant.KindInvalid {
				t.Fatalf("sealing a secret of %d bytes: %v, want invalid", len(raw), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := openTOTPSecret(a, user, sealed)
		if err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("round trip: %v, equal %v", err, bytes.Equal(back, raw))
		}
		if _, err := openTOTPSecret(a, other, sealed); !IsIntegrityError(err) {
			t.Fatalf("opened for another user: %v", err)
		}
		if bytes.Contains(sealed, raw) {
			t.Fatal("the sealed secret contains the secret")
		}
	})
}
