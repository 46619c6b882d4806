package auditlog

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"

	"github.com/transparency-dev/merkle/rfc6962"
)

// LeafDomain is the domain tag of leaf commitments, version 1.
const LeafDomain = "confidant/audit-leaf/v1"

// NonceSize is the size of the random nonce that makes a leaf commitment
// hiding.
const NonceSize = 32

// LeafHash returns the leaf commitment of one event:
//
//	SHA-256("confidant/audit-leaf/v1" || 0x00 || nonce || canonical)
//
// where canonical is Event.MarshalCanonical's output. The 32-byte commitment
// is the log entry: it is what entry bundles hold and what EventSource
// reports as the stored leaf hash. The Merkle tree hashes it once more as an
// RFC 6962 leaf (see MerkleLeafHash).
//
// nonce must come from a cryptographically secure source (NewNonce) and must
// never be reused: it hides the event from anyone who sees only the tree.
func LeafHash(nonce [NonceSize]byte, canonical []byte) [32]byte {
	var b []byte
	return leafHash(&b, nonce, canonical)
}

// leafHash is LeafHash framing the input in *scratch, which it reuses, so
// that a verifier hashing millions of events allocates nothing per event.
func leafHash(scratch *[]byte, nonce [NonceSize]byte, canonical []byte) [32]byte {
	*scratch = append(append(append(append((*scratch)[:0], LeafDomain...), 0), nonce[:]...), canonical...)
	return sha256.Sum256(*scratch)
}

// MerkleLeafHash returns the RFC 6962 leaf hash of a commitment,
// SHA-256(0x00 || commitment): the value at level 0 of the tree and of the
// level-0 hash tiles.
func MerkleLeafHash(commitment [32]byte) [32]byte {
	return [32]byte(rfc6962.DefaultHasher.HashLeaf(commitment[:]))
}

// NewNonce returns NonceSize bytes read from r, or from crypto/rand if r is
// nil.
func NewNonce(r io.Reader) ([NonceSize]byte, error) {
	var n [NonceSize]byte
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return n, fmt.Errorf("auditlog: reading nonce: %w", err)
	}
	return n, nil
}

// Opening proves one event: its canonical encoding and the nonce of its
// commitment. Whoever holds an Opening learns the event; the tree and other
// openings reveal nothing about it.
type Opening struct {
	Event []byte          // canonical encoding (Event.MarshalCanonical)
	Nonce [NonceSize]byte // the commitment's nonce
}

// NewOpening encodes e and draws a fresh nonce from r (crypto/rand if nil).
func NewOpening(e Event, r io.Reader) (Opening, error) {
	b, err := e.MarshalCanonical()
	if err != nil {
		return Opening{}, err
	}
	n, err := NewNonce(r)
	if err != nil {
		return Opening{}, err
	}
	return Opening{Event: b, Nonce: n}, nil
}

// Commitment returns LeafHash(o.Nonce, o.Event), the log entry o opens.
func (o Opening) Commitment() [32]byte { return LeafHash(o.Nonce, o.Event) }

// Decode returns the event o opens (UnmarshalCanonical).
func (o Opening) Decode() (Event, error) { return UnmarshalCanonical(o.Event) }

// LogValue implements slog.LogValuer without the event or the nonce.
func (o Opening) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("event_bytes", len(o.Event)))
}
