// Package logserve serves the public, read-only face of the access log over
// HTTP, so that anyone holding one of its checkpoints (a witness, the board,
// a regulator, a patient with a proof) can follow the log without an
// account:
//
//	GET /log/checkpoint            the latest signed checkpoint (C2SP tlog-checkpoint), text/plain
//	GET /log/key                   the key that verifies checkpoints (note verifier key), text/plain
//	GET /log/tile/<L>/<N>[.p/<W>]  hash tiles of the Merkle tree (C2SP tlog-tiles)
//
// The tree's hashes reveal nothing about events: each leaf is a hiding
// commitment (see internal/auditlog). Entry bundles (tile/entries/...) are
// not served: they are only for auditors, who verify the log with
// `confidant audit verify` and database access. Every other path under
// /log/ is 404, and so is a tile outside the latest checkpoint's tree.
//
// A request never writes anything except through the log's Checkpoint,
// which signs a new checkpoint when the tree grew; the handler asks for one
// at most once per second however many requests arrive.
package logserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/transparency-dev/tessera/api/layout"
)

// source is what the handler needs of the log (*audit.Log).
type source interface {
	Checkpoint(ctx context.Context) (auditlog.Checkpoint, error)
	VerifierKey() string
	ReadTile(ctx context.Context, level, index uint64, width int) ([]byte, error)
}

var _ source = (*audit.Log)(nil)

// Option configures the handler.
type Option func(*server)

// WithLogger sets the logger for failures (default slog.Default()). Paths
// are never logged, only the route.
func WithLogger(l *slog.Logger) Option {
	return func(s *server) {
		if l != nil {
			s.log = l
		}
	}
}

// Cache lifetimes.
const (
	cacheImmutable = "public, max-age=31536000, immutable" // full tiles never change
	cachePartial   = "public, max-age=60"                  // a partial tile is replaced by wider ones
	cacheKey       = "public, max-age=3600"
	cacheNone      = "no-store" // checkpoints: always the latest
)

// refreshEvery bounds how often requests make the log sign a checkpoint.
const refreshEvery = time.Second

// New returns the handler of the routes under /log/. Mount it at "/log/"
// (inside httpx.Secure: its headers stay, and the handler overrides
// Cache-Control and allows cross-origin reads). log must not be nil.
func New(log *audit.Log, opts ...Option) http.Handler {
	return newHandler(log, opts...)
}

func newHandler(src source, opts ...Option) http.Handler {
	s := &server{src: src, log: slog.Default(), every: refreshEvery, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	mux := httpx.NewServeMux()
	mux.HandleFunc("GET /log/checkpoint", s.checkpoint)
	mux.HandleFunc("GET /log/key", s.key)
	mux.HandleFunc("GET /log/tile/", s.tile)
	mux.HandleFunc("GET /log/", func(w http.ResponseWriter, r *http.Request) { s.notFound(w) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The log is public: anyone may read it, from any origin, without
		// credentials.
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", cacheNone)
		mux.ServeHTTP(w, r)
	})
}

// server holds the handler's state: the latest checkpoint it has seen.
type server struct {
	src   source
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	auditors func(*http.Request) bool // may read entry bundles; nil: nobody

	mu sync.Mutex // guards cp and at; held while asking the log
	cp auditlog.Checkpoint
	at time.Time
}

// latest returns the latest checkpoint. It asks the log (which signs one if
// the tree grew) at most once per s.every; in between, or when the
// checkpoint it has is enough for the caller, it returns that one.
func (s *server) latest(ctx context.Context, enough func(size uint64) bool) (auditlog.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp.Note != nil && (s.now().Sub(s.at) < s.every || (enough != nil && enough(s.cp.Size))) {
		return s.cp, nil
	}
	cp, err := s.src.Checkpoint(ctx)
	if err != nil {
		return auditlog.Checkpoint{}, err
	}
	s.cp, s.at = cp, s.now()
	return cp, nil
}

// GET /log/checkpoint
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := s.latest(r.Context(), nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, "text/plain; charset=utf-8", cacheNone, cp.Note)
}

// GET /log/key
func (s *server) key(w http.ResponseWriter, r *http.Request) {
	k := s.src.VerifierKey()
	if k == "" {
		s.fail(w, r, confidant.ErrNoAccessLog)
		return
	}
	s.write(w, "text/plain; charset=utf-8", cacheKey, []byte(k+"\n"))
}

// GET /log/tile/<L>/<N>[.p/<W>]
func (s *server) tile(w http.ResponseWriter, r *http.Request) {
	if p := strings.TrimPrefix(r.URL.Path, "/log/"); strings.HasPrefix(p, "tile/entries/") {
		s.entries(w, r, p)
		return
	}
	level, index, width, ok := parseTilePath(strings.TrimPrefix(r.URL.Path, "/log/"))
	if !ok {
		s.notFound(w)
		return
	}
	in := func(size uint64) bool { return inTree(level, index, width, size) }
	cp, err := s.latest(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !in(cp.Size) {
		s.notFound(w)
		return
	}
	data, err := s.readTile(r.Context(), level, index, width, cp.Size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cache := cacheImmutable
	if width < auditlog.TileWidth {
		cache = cachePartial
	}
	s.write(w, "application/octet-stream", cache, data)
}

// parseTilePath parses "tile/<L>/<N>[.p/<W>]" in its canonical form only
// (tessera's api/layout, then printed back and compared), so that every
// tile has exactly one URL. Entry bundles ("tile/entries/...") are not
// tiles here.
func parseTilePath(p string) (level, index uint64, width int, ok bool) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return 0, 0, 0, false
	}
	l, n, found := strings.Cut(rest, "/")
	if !found || l == "entries" {
		return 0, 0, 0, false
	}
	level, index, partial, err := layout.ParseTileLevelIndexPartial(l, n)
	if err != nil || layout.TilePath(level, index, partial) != p {
		return 0, 0, 0, false
	}
	width = auditlog.TileWidth
	if partial > 0 {
		width = int(partial)
	}
	return level, index, width, true
}

// inTree reports whether tile (level, index, width) belongs to the tree of
// the given size: a full tile of it, its rightmost partial tile, or a
// narrower partial tile of an earlier size (which a client holding an older
// checkpoint asks for).
func inTree(level, index uint64, width int, size uint64) bool {
	nodes := size >> (auditlog.TileHeight * level) // hashes at this level; 0 for shifts of 64 or more
	full := nodes / auditlog.TileWidth
	switch {
	case index < full:
		return true
	case index == full:
		return uint64(width) <= nodes%auditlog.TileWidth // never for a full width
	}
	return false
}

// readTile returns tile (level, index, width) of the tree of the given size.
// The stores keep a partial tile only until the full one is written, and
// keep only the widths a batch ended at; a partial tile's hashes are the
// first hashes of every wider version of it (the nodes of complete
// subtrees never change), so it is cut from a wider one when needed.
func (s *server) readTile(ctx context.Context, level, index uint64, width int, size uint64) ([]byte, error) {
	widths := []int{width}
	if width < auditlog.TileWidth {
		nodes := size >> (auditlog.TileHeight * level)
		if index == nodes/auditlog.TileWidth {
			if cur := int(nodes % auditlog.TileWidth); cur > width {
				widths = append(widths, cur)
			}
		}
		widths = append(widths, auditlog.TileWidth)
	}
	for _, w := range widths {
		data, err := s.src.ReadTile(ctx, level, index, w)
		if confidant.IsKind(err, confidant.KindNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(data) != w*auditlog.HashSize {
			return nil, confidant.Errorf(confidant.KindInternal, "bad_tile", "stored tile %d/%d/%d has %d bytes", level, index, w, len(data))
		}
		return data[:width*auditlog.HashSize], nil
	}
	return nil, confidant.ErrNotFound
}

func (s *server) write(w http.ResponseWriter, ctype, cache string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cache)
	w.Write(body)
}

func (s *server) notFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheNone)
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, "not found\n")
}

// fail answers a failed read: 404 for what is not there, else the status
// of the error's kind (503 while the log is unavailable) with a fixed text.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if confidant.IsKind(err, confidant.KindNotFound) {
		s.notFound(w)
		return
	}
	if errors.Is(err, context.Canceled) {
		err = confidant.Wrap(err, confidant.KindUnavailable, "canceled", "canceled")
	}
	httpx.LogError(s.log, r, err)
	status := httpx.Status(err)
	msg := "the access log cannot be read now; try again shortly\n"
	if status == http.StatusInternalServerError {
		msg = "internal error\n"
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheNone)
	w.WriteHeader(status)
	io.WriteString(w, msg)
}
