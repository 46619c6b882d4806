package auditlog

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds the signed checkpoint notes ParseCheckpoint
// accepts.
const MaxCheckpointSize = 64 << 10

// Signer signs checkpoints. Its method set is note.Signer's, so any
// note.Signer is a Signer; a key held by a KEK provider or an HSM only needs
// these three methods:
//
//   - Name returns the key name, which for a log key is the log's origin;
//   - KeyHash returns the note key hash (see note.NewVerifier);
//   - Sign returns the Ed25519 signature of msg.
//
// Sign must be safe for concurrent use if the Signer is shared. A Signer
// must never expose its private key, in errors or otherwise.
type Signer interface {
	Name() string
	KeyHash() uint32
	Sign(msg []byte) ([]byte, error)
}

var _ Signer = note.Signer(nil)

// GenerateKey returns a new Ed25519 note key pair named origin, in the note
// key format ("PRIVATE+KEY+<origin>+<hash>+<key>" and
// "<origin>+<hash>+<key>"), from note.GenerateKey. rand is crypto/rand if
// nil. skey is secret: store it like the other keys and never log it.
func GenerateKey(rand io.Reader, origin string) (skey, vkey string, err error) {
	if rand == nil {
		rand = crand.Reader
	}
	skey, vkey, err = note.GenerateKey(rand, origin)
	if err != nil {
		return "", "", fmt.Errorf("auditlog: generating checkpoint key: %w", err)
	}
	return skey, vkey, nil
}

// NewSigner returns the Signer of a private key in note format
// (note.NewSigner). The error never quotes the key.
func NewSigner(skey string) (Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("auditlog: malformed checkpoint signing key")
	}
	return s, nil
}

// NewVerifier returns the verifier of a public key in note format
// (note.NewVerifier).
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("auditlog: checkpoint verifier key: %w", err)
	}
	return v, nil
}

// Checkpoint is a signed C2SP tlog-checkpoint: the log's origin, its size and
// its root hash, as formats/log.Checkpoint, with the signed note it came
// from.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	// Note is the signed note text (body and signature lines), as produced by
	// SignCheckpoint or given to ParseCheckpoint.
	Note []byte
	// External is not signed: callers set it on checkpoints held outside the
	// log's database (witness, board, regulator, a file). Verify uses it to
	// tell a rollback (the database is older than what outsiders saw) from a
	// truncation (the database itself remembers a larger log).
	External bool
}

// Log returns c as a formats/log.Checkpoint.
func (c Checkpoint) Log() log.Checkpoint {
	return log.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: bytes.Clone(c.Root[:])}
}

// LogValue implements slog.LogValuer.
func (c Checkpoint) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("origin", c.Origin),
		slog.Uint64("size", c.Size),
		slog.String("root", fmt.Sprintf("%x", c.Root)),
		slog.Bool("external", c.External),
	)
}

// SignCheckpoint signs the checkpoint (origin, size, root) as a C2SP signed
// note: the body is formats/log.Checkpoint's three lines, the signature
// note.Sign's. The signer's key name must be the origin.
func SignCheckpoint(s Signer, origin string, size uint64, root [32]byte) (Checkpoint, error) {
	if s.Name() != origin {
		return Checkpoint{}, fmt.Errorf("auditlog: checkpoint key is named %q, not the origin %q", s.Name(), origin)
	}
	cp := Checkpoint{Origin: origin, Size: size, Root: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Log().Marshal())}, s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("auditlog: signing checkpoint: %w", err)
	}
	cp.Note = signed
	return cp, nil
}

// ParseCheckpoint opens a signed checkpoint note with note.Open and parses
// its body with formats/log. It accepts the note only if one of verifiers
// verified a signature whose key name is the checkpoint's origin (the log's
// own signature; other known signatures, such as witnesses', must verify
// too, and unknown ones are ignored). The first three body lines must be in
// the canonical form formats/log writes, the root must be 32 bytes; further
// body lines (extensions) are ignored. The text must not exceed
// MaxCheckpointSize.
func ParseCheckpoint(text []byte, verifiers note.Verifiers) (Checkpoint, error) {
	if len(text) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("auditlog: checkpoint longer than %d bytes", MaxCheckpointSize)
	}
	n, err := note.Open(text, verifiers)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("auditlog: checkpoint signature: %w", err)
	}
	var lc log.Checkpoint
	if _, err := lc.Unmarshal([]byte(n.Text)); err != nil {
		return Checkpoint{}, fmt.Errorf("auditlog: checkpoint body: %w", err)
	}
	if len(lc.Hash) != HashSize {
		return Checkpoint{}, fmt.Errorf("auditlog: checkpoint root has %d bytes, want %d", len(lc.Hash), HashSize)
	}
	if !bytes.HasPrefix([]byte(n.Text), lc.Marshal()) {
		return Checkpoint{}, errors.New("auditlog: checkpoint body is not in canonical form")
	}
	signed := false
	for _, s := range n.Sigs {
		if s.Name == lc.Origin {
			signed = true
			break
		}
	}
	if !signed {
		return Checkpoint{}, errors.New("auditlog: checkpoint is not signed by a known key of its origin")
	}
	return Checkpoint{Origin: lc.Origin, Size: lc.Size, Root: [32]byte(lc.Hash), Note: bytes.Clone(text)}, nil
}

// DigestHeader is the first line of a signed board digest. A checkpoint's
// first line is its origin, which is never this text (SignDigest refuses
// a signer so named), so a digest can never be taken for a checkpoint nor
// a checkpoint for a digest: ParseCheckpoint wants the signer's name on
// the first line, OpenDigest wants this header.
const DigestHeader = "confidant board digest v1"

// MaxDigestSize bounds the signed digests OpenDigest accepts.
const MaxDigestSize = 256 << 10

// SignDigest signs a board digest with the log's key as a signed note
// whose text is DigestHeader, a newline and body (which must end in a
// newline, as note text does).
func SignDigest(s Signer, body string) ([]byte, error) {
	if s.Name() == DigestHeader {
		return nil, errors.New("auditlog: a log key may not be named like the board digest")
	}
	if body == "" || body[len(body)-1] != '\n' {
		return nil, errors.New("auditlog: a digest body must end in a newline")
	}
	signed, err := note.Sign(&note.Note{Text: DigestHeader + "\n" + body}, s)
	if err != nil {
		return nil, fmt.Errorf("auditlog: signing digest: %w", err)
	}
	return signed, nil
}

// OpenDigest verifies a signed board digest with verifiers and returns
// its body (the text after the header line). It fails for a note that is
// not a digest (a checkpoint), a wrong or missing signature, or more than
// MaxDigestSize bytes.
func OpenDigest(text []byte, verifiers note.Verifiers) (string, error) {
	if len(text) > MaxDigestSize {
		return "", fmt.Errorf("auditlog: digest longer than %d bytes", MaxDigestSize)
	}
	n, err := note.Open(text, verifiers)
	if err != nil {
		return "", fmt.Errorf("auditlog: digest signature: %w", err)
	}
	body, ok := strings.CutPrefix(n.Text, DigestHeader+"\n")
	if !ok {
		return "", errors.New("auditlog: not a board digest")
	}
	return body, nil
}
