package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/mod/sumdb/note"
)

// BundleVersion is the version of the JSON encoding of a Bundle.
const BundleVersion = 1

// MaxBundleSize bounds the JSON encodings ParseBundle accepts.
const MaxBundleSize = 2 << 20

// maxProofLen bounds the number of hashes in an inclusion proof (a tree of
// at most 2^64 leaves).
const maxProofLen = 64

// Bundle is everything a patient (or an inspector, or a court) needs to
// check one access log entry without trusting the server: the opening of
// the event, its index, the inclusion proof of its commitment in the tree
// of the given size, and the signed checkpoint of that size.
type Bundle struct {
	Opening
	Index, Size    uint64
	InclusionProof [][]byte
	Checkpoint     string // signed note text (C2SP tlog-checkpoint)
}

// bundleJSON is the JSON encoding of a Bundle, version 1. Byte strings are
// standard base64 with padding.
type bundleJSON struct {
	Version        int      `json:"version"`
	Index          uint64   `json:"index"`
	Size           uint64   `json:"size"`
	Event          []byte   `json:"event"`
	Nonce          []byte   `json:"nonce"`
	InclusionProof [][]byte `json:"inclusion_proof"`
	Checkpoint     string   `json:"checkpoint"`
}

// MarshalJSON encodes b as a JSON object, version 1:
//
//	{"version":1,"index":N,"size":N,"event":"<base64>","nonce":"<base64>",
//	 "inclusion_proof":["<base64>",...],"checkpoint":"<signed note>"}
func (b Bundle) MarshalJSON() ([]byte, error) {
	proof := b.InclusionProof
	if proof == nil {
		proof = [][]byte{}
	}
	return json.Marshal(bundleJSON{
		Version:        BundleVersion,
		Index:          b.Index,
		Size:           b.Size,
		Event:          b.Event,
		Nonce:          b.Nonce[:],
		InclusionProof: proof,
		Checkpoint:     b.Checkpoint,
	})
}

// UnmarshalJSON decodes the JSON encoding of a Bundle (ParseBundle).
func (b *Bundle) UnmarshalJSON(data []byte) error {
	nb, err := ParseBundle(data)
	if err != nil {
		return err
	}
	*b = nb
	return nil
}

// ParseBundle decodes the JSON encoding of a Bundle, strictly: version 1,
// no unknown fields, no trailing data, at most MaxBundleSize bytes, a
// 32-byte nonce, 32-byte proof hashes (at most 64), a non-empty event of at
// most MaxEventSize bytes, index < size and a non-empty checkpoint of at
// most MaxCheckpointSize bytes. It checks no signature or proof: that is
// CheckBundle's job. An empty proof decodes as nil.
func ParseBundle(data []byte) (Bundle, error) {
	if len(data) > MaxBundleSize {
		return Bundle{}, fmt.Errorf("auditlog: bundle longer than %d bytes", MaxBundleSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j bundleJSON
	if err := dec.Decode(&j); err != nil {
		return Bundle{}, fmt.Errorf("auditlog: bundle: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Bundle{}, errors.New("auditlog: bundle: trailing data")
	}
	switch {
	case j.Version != BundleVersion:
		return Bundle{}, fmt.Errorf("auditlog: bundle version %d, want %d", j.Version, BundleVersion)
	case len(j.Nonce) != NonceSize:
		return Bundle{}, fmt.Errorf("auditlog: bundle nonce has %d bytes, want %d", len(j.Nonce), NonceSize)
	case len(j.Event) == 0 || len(j.Event) > MaxEventSize:
		return Bundle{}, fmt.Errorf("auditlog: bundle event has %d bytes", len(j.Event))
	case j.Index >= j.Size:
		return Bundle{}, fmt.Errorf("auditlog: bundle index %d not below size %d", j.Index, j.Size)
	case j.Checkpoint == "" || len(j.Checkpoint) > MaxCheckpointSize:
		return Bundle{}, fmt.Errorf("auditlog: bundle checkpoint has %d bytes", len(j.Checkpoint))
	case len(j.InclusionProof) > maxProofLen:
		return Bundle{}, fmt.Errorf("auditlog: bundle proof has %d hashes", len(j.InclusionProof))
	}
	for i, h := range j.InclusionProof {
		if len(h) != HashSize {
			return Bundle{}, fmt.Errorf("auditlog: bundle proof hash %d has %d bytes", i, len(h))
		}
	}
	b := Bundle{
		Opening:    Opening{Event: j.Event, Nonce: [NonceSize]byte(j.Nonce)},
		Index:      j.Index,
		Size:       j.Size,
		Checkpoint: j.Checkpoint,
	}
	if len(j.InclusionProof) > 0 {
		b.InclusionProof = j.InclusionProof
	}
	return b, nil
}

// LogValue implements slog.LogValuer with the position only.
func (b Bundle) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("index", b.Index), slog.Uint64("size", b.Size))
}

// NewBundle builds the Bundle of the event that o opens, proving it in the
// tree of cp's size from the tiles in ts. It checks the result with
// CheckBundle's inclusion check against cp, so corrupted tiles never yield
// a bundle that would not verify.
func NewBundle(ctx context.Context, ts TileStore, o Opening, cp Checkpoint) (Bundle, error) {
	e, err := o.Decode()
	if err != nil {
		return Bundle{}, err
	}
	if e.Index >= cp.Size {
		return Bundle{}, fmt.Errorf("auditlog: event %d is not in the checkpoint of size %d", e.Index, cp.Size)
	}
	pf, err := InclusionProof(ctx, ts, e.Index, cp.Size)
	if err != nil {
		return Bundle{}, err
	}
	if err := VerifyInclusion(o.Commitment(), e.Index, cp.Size, pf, cp.Root); err != nil {
		return Bundle{}, err
	}
	return Bundle{Opening: o, Index: e.Index, Size: cp.Size, InclusionProof: pf, Checkpoint: string(cp.Note)}, nil
}

// CheckBundle checks a Bundle independently of the server: the checkpoint
// is signed by the log (ParseCheckpoint with verifiers) and has the bundle's
// size, the event decodes and carries the bundle's index, and the
// commitment recomputed from the event and the nonce is included in the
// checkpoint's tree at that index. It returns the event.
func CheckBundle(b Bundle, verifiers note.Verifiers) (Event, error) {
	cp, err := ParseCheckpoint([]byte(b.Checkpoint), verifiers)
	if err != nil {
		return Event{}, err
	}
	if cp.Size != b.Size {
		return Event{}, fmt.Errorf("auditlog: bundle size %d but its checkpoint has size %d", b.Size, cp.Size)
	}
	if b.Index >= b.Size {
		return Event{}, fmt.Errorf("auditlog: bundle index %d not below size %d", b.Index, b.Size)
	}
	e, err := b.Decode()
	if err != nil {
		return Event{}, err
	}
	if e.Index != b.Index {
		return Event{}, fmt.Errorf("auditlog: bundle index %d but the event carries index %d", b.Index, e.Index)
	}
	if err := VerifyInclusion(b.Commitment(), b.Index, b.Size, b.InclusionProof, cp.Root); err != nil {
		return Event{}, err
	}
	return e, nil
}
