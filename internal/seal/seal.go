// Package seal encrypts records before they reach a database and decrypts
// them on the way back. It turns a confidant.SealedStore (SQLite,
// PostgreSQL), which only ever holds ciphertext and blind indexes, into the
// plaintext confidant.Store the service layer uses.
//
// Every clinical and identifying field is sealed with the patient's own
// Tink AEAD keyset (AES-256-GCM), obtained from internal/keys. Each sealed
// value carries associated data naming its place,
//
//	confidant/record/v1|<kind>|<patient id>|<record id>|<sub>
//
// (sub is the note version or the attachment chunk index), so a ciphertext
// copied to another row, version, chunk, kind of record or patient fails to
// decrypt with an integrity error. The stored form of a sealed value is a
// format byte (1) followed by Tink's ciphertext, which begins with the id of
// the key that made it (key rotation relies on it).
//
// Exact-match search on identifying fields works through blind indexes
// (keyed, truncated HMACs from internal/keys); candidates are decrypted and
// compared, so a truncation collision never yields a wrong result.
package seal

import (
	"encoding/json"
	"errors"
	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"strconv"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// format is the first byte of every sealed value.
const format byte = 1

// Index widths in bits; see docs/SECURITY.md for what they leak.
const (
	IdentityIndexBits    = 32 // unique per person: false positives ~ N / 2^32
	SurnameIndexBits     = 16 // ~ N / 65536 candidates per lookup
	SurnameYearIndexBits = 24
	// AddressIndexBits: the address index is compared for equality only
	// (staff_close), never searched, so truncation buys no search speed;
	// a narrow one would blur which patients share an address for a
	// database thief only at the cost of false high-severity alerts
	// (about one per 2^bits openings by staff with an address). 32 bits,
	// as the identity code's: false matches ~ 1 in 4 billion openings.
	AddressIndexBits = 32
)

// Blind-index (table, field) names. Changing them changes every index.
const (
	indexTable       = "patients"
	fieldIdentity    = "identity_code"
	fieldSurname     = "surname"
	fieldSurnameYear = "surname_birth_year"
	fieldAddress     = "address"
)

// errIntegrity is returned when a sealed value fails authentication: it was
// altered, moved to another place, or made under another key.
var errIntegrity = confidant.Errorf(confidant.KindInternal, "integrity_error",
	"A stored record failed its integrity check and was not shown.")

// ad returns the associated data binding a sealed value to its place.
func ad(kind confidant.BlobKind, patientID, id string, sub int) []byte {
	return []byte("confidant/record/v1|" + string(kind) + "|" + patientID + "|" + id + "|" + strconv.Itoa(sub))
}

// sealBytes encrypts plaintext for its place.
func sealBytes(a tink.AEAD, plaintext []byte, kind confidant.BlobKind, patientID, id string, sub int) ([]byte, error) {
	ct, err := a.Encrypt(plaintext, ad(kind, patientID, id, sub))
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	out := make([]byte, 0, 1+len(ct))
	return append(append(out, format), ct...), nil
}

// openBytes decrypts a sealed value from its place. It never panics on
// malformed input.
func openBytes(a tink.AEAD, sealed []byte, kind confidant.BlobKind, patientID, id string, sub int) ([]byte, error) {
	if len(sealed) < 2 || sealed[0] != format {
		return nil, fmt.Errorf("seal: %s %s: unknown format: %w", kind, id, errIntegrity)
	}
	pt, err := a.Decrypt(sealed[1:], ad(kind, patientID, id, sub))
	if err != nil {
		return nil, fmt.Errorf("seal: %s %s: %w", kind, id, errIntegrity)
	}
	return pt, nil
}

// sealJSON encrypts v's JSON encoding.
func sealJSON(a tink.AEAD, v any, kind confidant.BlobKind, patientID, id string, sub int) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	return sealBytes(a, b, kind, patientID, id, sub)
}

// openJSON decrypts a value sealed by sealJSON into v, strictly.
func openJSON(a tink.AEAD, sealed []byte, v any, kind confidant.BlobKind, patientID, id string, sub int) error {
	b, err := openBytes(a, sealed, kind, patientID, id, sub)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// decodeJSON decodes an opened payload; unknown fields, duplicate names,
// invalid UTF-8 or trailing data are integrity errors (the payload was
// authenticated, so they mean a bug or a newer writer). It decodes with
// github.com/go-json-experiment/json (the JSON v2 prototype), which reads
// what encoding/json writes about twice as fast as encoding/json reads it:
// decoding the notes was a third of a chart open's CPU.
func decodeJSON(b []byte, v any) error {
	if err := jsonv2.Unmarshal(b, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("seal: payload: %v: %w", err, errIntegrity)
	}
	return nil
}

// IsIntegrityError reports whether err is a sealed value failing
// authentication.
func IsIntegrityError(err error) bool { return errors.Is(err, errIntegrity) }

// Payloads: the plaintext inside each kind of sealed value. Field names are
// part of the stored format.
type (
	patientData struct {
		Given   string `json:"g"`
		Family  string `json:"f"`
		Code    string `json:"c"`
		Birth   string `json:"b"` // RFC 3339, UTC
		Phone   string `json:"p,omitempty"`
		Email   string `json:"e,omitempty"`
		Address string `json:"a,omitempty"`
	}
	noteData struct {
		Body   string `json:"b"`
		Reason string `json:"r,omitempty"`
	}
	processNoteData struct {
		Body string `json:"b"`
		// Author binds the note to its author (the row's author_id is in
		// the clear and decides who reads it); absent in notes sealed
		// before it was added.
		Author string `json:"a,omitempty"`
	}
	diagnosisData struct {
		Code  string `json:"c"`
		Title string `json:"t"`
		Note  string `json:"n,omitempty"`
	}
	planData struct {
		Goals         string `json:"g"`
		Interventions string `json:"i,omitempty"`
		ReviewOn      string `json:"r,omitempty"` // RFC 3339, UTC
	}
	measureData struct {
		Answers  []int  `json:"a"`
		Score    int    `json:"s"`
		Severity string `json:"v"`
	}
	attachmentData struct {
		Filename string `json:"n"`
		SHA256   []byte `json:"h"`
	}
	breakGlassData struct {
		Reason  string `json:"r"`
		Comment string `json:"c,omitempty"` // the reviewer's
	}
)
