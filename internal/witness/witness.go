// Package witness is a C2SP tlog-witness for Confidant's access log: a
// separate process, with its own Ed25519 key and its own state, that
// cosigns the log's checkpoints only if each is consistent with the last one
// it cosigned. A witness makes a rollback or a fork of the log's database
// detectable by anyone who holds its cosignatures, and lets the server refuse
// to start on an older copy of its database.
//
// Protocol: https://c2sp.org/tlog-witness (POST /add-checkpoint). The
// cosignatures are C2SP tlog-cosignature "cosignature/v1" (timestamped
// Ed25519, signature type 0x04), made with transparency-dev/formats/note;
// the witness's verifier key is printed in that form.
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/confidanthealth/confidant/internal/auditlog"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

const (
	// MaxRequestSize bounds an add-checkpoint request body.
	MaxRequestSize = auditlog.MaxCheckpointSize + 8<<10
	// MaxProofLines is the most consistency proof hashes a request may hold
	// (C2SP tlog-witness: at most 63).
	MaxProofLines = 63
	// SizeContentType is the media type of a 409 Conflict answer.
	SizeContentType = "text/x.tlog.size"

	keyFile   = "witness.key"
	stateFile = "state.json"
)

// Config configures a Witness.
type Config struct {
	Dir       string // data directory: key and state (created 0700)
	Name      string // the witness's key name, used on first start only
	LogOrigin string // the log's origin
	LogKey    string // the log's verifier key (note format), named LogOrigin
	Logger    *slog.Logger
}

// Witness cosigns one log's checkpoints. It is safe for concurrent use.
type Witness struct {
	dir    string
	origin string
	logV   note.Verifiers
	signer note.Signer
	vkey   string
	log    *slog.Logger

	mu sync.Mutex
	st state
}

// state is the witness's record of the log, in DIR/state.json.
type state struct {
	Size       uint64 `json:"size"`
	Root       []byte `json:"root,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

// LoadKey loads the witness's private key from dir, generating it named name
// on first use. It returns the cosignature/v1 verifier key and whether the
// key was created now.
func LoadKey(dir, name string) (signer note.Signer, vkey string, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", false, fmt.Errorf("witness: data directory: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		skey, _, gerr := auditlog.GenerateKey(nil, name)
		if gerr != nil {
			return nil, "", false, gerr
		}
		if err := writeAtomic(path, []byte(skey+"\n"), 0o600); err != nil {
			return nil, "", false, fmt.Errorf("witness: storing the key: %w", err)
		}
		b, created = []byte(skey), true
	} else if err != nil {
		return nil, "", false, fmt.Errorf("witness: reading the key: %w", err)
	}
	s, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", false, errors.New("witness: malformed key file " + path)
	}
	vkey, err = cosigVerifierKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", false, errors.New("witness: malformed key file " + path)
	}
	return s, vkey, created, nil
}

// cosigVerifierKey derives the cosignature/v1 verifier key of a note
// private key ("PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>").
func cosigVerifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("malformed key")
	}
	k, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(k) != 1+ed25519.SeedSize || k[0] != 1 {
		return "", errors.New("malformed key")
	}
	pub := ed25519.NewKeyFromSeed(k[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// New opens (or creates) the witness in cfg.Dir.
func New(cfg Config) (*Witness, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "confidant-witness"
	}
	lv, err := auditlog.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("witness: log key: %w", err)
	}
	if lv.Name() != cfg.LogOrigin {
		return nil, fmt.Errorf("witness: the log key is named %q, not the log origin %q", lv.Name(), cfg.LogOrigin)
	}
	s, vkey, _, err := LoadKey(cfg.Dir, cfg.Name)
	if err != nil {
		return nil, err
	}
	w := &Witness{dir: cfg.Dir, origin: cfg.LogOrigin, logV: note.VerifierList(lv), signer: s, vkey: vkey, log: cfg.Logger}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: reading state: %w", err)
	default:
		if err := json.Unmarshal(b, &w.st); err != nil {
			return nil, fmt.Errorf("witness: state file is damaged: %w", err)
		}
		if w.st.Size > 0 && len(w.st.Root) != auditlog.HashSize {
			return nil, errors.New("witness: state file is damaged: bad root")
		}
	}
	return w, nil
}

// VerifierKey returns the witness's public key (cosignature/v1 vkey).
func (w *Witness) VerifierKey() string { return w.vkey }

// Size returns the size of the latest checkpoint the witness cosigned.
func (w *Witness) Size() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.Size
}

// Request is a parsed add-checkpoint request.
type Request struct {
	OldSize    uint64
	Proof      [][]byte
	Checkpoint []byte
}

// ParseRequest parses a C2SP tlog-witness add-checkpoint body: "old <size>",
// up to 63 base64 consistency proof hashes, a blank line, the checkpoint.
func ParseRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > MaxRequestSize {
		return r, errors.New("request too large")
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return r, errors.New("missing old size line")
	}
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok || len(num) == 0 || (len(num) > 1 && num[0] == '0') {
		return r, errors.New(`malformed "old" line`)
	}
	n, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return r, errors.New(`malformed "old" line`)
	}
	r.OldSize = n
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return r, errors.New("missing blank line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == MaxProofLines {
			return r, errors.New("too many proof lines")
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != auditlog.HashSize {
			return r, errors.New("malformed proof line")
		}
		r.Proof = append(r.Proof, h)
	}
	if len(rest) == 0 {
		return r, errors.New("missing checkpoint")
	}
	r.Checkpoint = rest
	return r, nil
}

// Error is an add-checkpoint refusal with its HTTP status.
type Error struct {
	Status int
	Msg    string
	Size   uint64 // for 409 Conflict: the witness's size
}

func (e *Error) Error() string { return fmt.Sprintf("witness: %s (%d)", e.Msg, e.Status) }

// Add checks r and, if it is consistent with the stored checkpoint, stores
// the new checkpoint and returns the witness's cosignature line(s)
// ("— <name> <base64>\n"). It fails with an *Error.
func (w *Witness) Add(ctx context.Context, r Request) ([]byte, error) {
	n, err := note.Open(r.Checkpoint, w.logV)
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return nil, &Error{Status: http.StatusForbidden, Msg: "the checkpoint is not signed by the log's key"}
		}
		return nil, &Error{Status: http.StatusBadRequest, Msg: "malformed checkpoint note"}
	}
	cp, err := auditlog.ParseCheckpoint(r.Checkpoint, w.logV)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "malformed checkpoint"}
	}
	if cp.Origin != w.origin {
		return nil, &Error{Status: http.StatusNotFound, Msg: "unknown log"}
	}
	if r.OldSize > cp.Size {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "old size is larger than the checkpoint's"}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.OldSize != w.st.Size {
		return nil, &Error{Status: http.StatusConflict, Msg: "old size does not match", Size: w.st.Size}
	}
	if w.st.Size == 0 {
		if len(r.Proof) != 0 {
			return nil, &Error{Status: http.StatusUnprocessableEntity, Msg: "a proof from size 0 must be empty"}
		}
	} else if err := auditlog.VerifyConsistency(w.st.Size, cp.Size, r.Proof, [32]byte(w.st.Root), cp.Root); err != nil {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Msg: "the consistency proof does not verify"}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("witness: cosigning: %w", err)
	}
	sigs := signed[len(n.Text)+1:]
	if cp.Size != w.st.Size || w.st.Checkpoint == "" {
		st := state{Size: cp.Size, Root: cp.Root[:], Checkpoint: string(r.Checkpoint)}
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(filepath.Join(w.dir, stateFile), b, 0o600); err != nil {
			return nil, fmt.Errorf("witness: storing state: %w", err)
		}
		w.st = st
	}
	w.log.Info("cosigned", slog.String("origin", cp.Origin), slog.Uint64("size", cp.Size))
	return sigs, nil
}

// ServeHTTP serves POST /add-checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, req)
		return
	}
	if req.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestSize+1))
	if err != nil {
		http.Error(rw, "reading the request", http.StatusBadRequest)
		return
	}
	if len(body) > MaxRequestSize {
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	r, err := ParseRequest(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sigs, err := w.Add(req.Context(), r)
	var we *Error
	switch {
	case errors.As(err, &we) && we.Status == http.StatusConflict:
		rw.Header().Set("Content-Type", SizeContentType)
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", we.Size)
		return
	case errors.As(err, &we):
		w.log.Warn("checkpoint refused", slog.Int("status", we.Status), slog.String("reason", we.Msg))
		http.Error(rw, we.Msg, we.Status)
		return
	case err != nil:
		w.log.Error("add-checkpoint", slog.String("err", err.Error()))
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(sigs)
}

// writeAtomic writes data to path through a synced temporary file renamed
// into place.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
