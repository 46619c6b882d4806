// Package baseline is the INSECURE plain baseline of the benchmarks: the
// same product with encryption and the access log switched off, so that
// what they cost can be reported as a ratio (issue 5). It must never hold
// or serve real data.
//
// It provides a seal.Keyring without cryptography (Keyring), a sealed
// store whose transactions record nothing in an access log (NoLog), and a
// service.Auditor and service.AuditReader that discard and find nothing
// (Discard). Stored values keep exactly the sizes of the encrypted product,
// so the same SQL runs on the same amount of data.
//
// Only two kinds of code import it: tests and benchmarks, and the file of
// cmd/confidant built with the build tag "baseline" (baseline_on.go); the
// normal binary does not contain it (cmd/confidant's tests check the import
// graph). See docs/BASELINE.md.
package baseline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keyring is a seal.Keyring without cryptography. Its AEAD is the
// identity, framed like Tink's AES-GCM output (a 5-byte prefix like
// Tink's, then 12 zero bytes where the nonce goes, the plaintext, and 16
// zero bytes where the tag goes), so stored values have exactly the
// encrypted sizes; its blind index is a truncated SHA-256 of the value; its
// wrapped keys are WrappedSize zero bytes, the size of a wrapped Tink
// keyset, under the KEK id KEKID.
type Keyring struct{}

// WrappedSize is the size of a wrapped Tink keyset of a patient.
const WrappedSize = 144

// KEKID names the (absent) key-encryption key of the baseline's wrapped
// keys.
const KEKID = "plain:0"

// NewPatientKey returns a zero "wrapped key" of the real size.
func (Keyring) NewPatientKey(patientID string) (confidant.WrappedKey, tink.AEAD, error) {
	return confidant.WrappedKey{Owner: patientID, KEKID: KEKID, Wrapped: make([]byte, WrappedSize),
		UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)}, AEAD{}, nil
}

// PatientAEAD returns the identity AEAD.
func (Keyring) PatientAEAD(confidant.WrappedKey) (tink.AEAD, error) { return AEAD{}, nil }

// BlindIndex returns the first bits of SHA-256(table|field|value), unkeyed.
func (Keyring) BlindIndex(table, field, value string, bits int) ([]byte, error) {
	sum := sha256.Sum256([]byte(table + "|" + field + "|" + value))
	out := sum[:(bits+7)/8]
	if r := bits % 8; r != 0 {
		out[len(out)-1] &= byte(0xFF << (8 - r))
	}
	return bytes.Clone(out), nil
}

// AEAD is the identity in Tink's AES-GCM frame (see Keyring).
type AEAD struct{}

var prefix = []byte{0x01, 0x00, 0x00, 0x00, 0x01} // Tink: 0x01, 4-byte key id

const nonceSize, tagSize = 12, 16

// Encrypt frames the plaintext, unencrypted.
func (AEAD) Encrypt(pt, _ []byte) ([]byte, error) {
	out := make([]byte, 0, len(prefix)+nonceSize+len(pt)+tagSize)
	out = append(out, prefix...)
	out = append(out, make([]byte, nonceSize)...)
	out = append(out, pt...)
	return append(out, make([]byte, tagSize)...), nil
}

// Decrypt unframes a value made by Encrypt.
func (AEAD) Decrypt(ct, _ []byte) ([]byte, error) {
	head := len(prefix) + nonceSize
	if len(ct) < head+tagSize || !bytes.Equal(ct[:len(prefix)], prefix) {
		return nil, errors.New("baseline: not a baseline value")
	}
	return bytes.Clone(ct[head : len(ct)-tagSize]), nil
}

// NoLog wraps a sealed store so that its transactions accept access-log
// events and drop them: tx.Audit(ev) succeeds and writes nothing (the
// product's stores fail closed without an access log; this one is open).
func NoLog(st confidant.SealedStore) confidant.SealedStore { return noLog{st} }

type noLog struct{ confidant.SealedStore }

func (s noLog) Update(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return s.SealedStore.Update(ctx, func(tx confidant.SealedTx) error { return fn(noLogTx{tx}) })
}

func (s noLog) View(ctx context.Context, fn func(confidant.SealedTx) error) error {
	return s.SealedStore.View(ctx, func(tx confidant.SealedTx) error { return fn(noLogTx{tx}) })
}

type noLogTx struct{ confidant.SealedTx }

// Audit drops the event.
func (noLogTx) Audit(confidant.AuditEvent) error { return nil }

// Discard is a service.Auditor that drops events and a service.AuditReader
// of an empty access log.
type Discard struct{}

// Record drops the events.
func (Discard) Record(context.Context, ...confidant.AuditEvent) error { return nil }

// Query finds nothing.
func (Discard) Query(context.Context, confidant.EventFilter) ([]confidant.StoredEvent, error) {
	return nil, nil
}

// OpenFree has nothing to open.
func (Discard) OpenFree(confidant.StoredEvent) (purpose, client string, err error) {
	return "", "", nil
}

// AccessedBy finds nothing.
func (Discard) AccessedBy(context.Context, string, time.Time, time.Time) ([]confidant.PatientAccess, error) {
	return nil, nil
}

// Bundle finds nothing.
func (Discard) Bundle(context.Context, uint64) (auditlog.Bundle, error) {
	return auditlog.Bundle{}, confidant.ErrNotFound
}

// FactMAC returns SHA-256(msg), unkeyed: the baseline protects nothing.
func (Keyring) FactMAC(msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return sum[:], nil
}
