package logserve

import (
	"context"
	"net/http"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/transparency-dev/tessera/api/layout"
)

// bundleSource is implemented by sources that can read entry bundles.
type bundleSource interface {
	ReadEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error)
}

// WithAuditors serves entry bundles (tile/entries/...: the leaf commitments,
// which let an auditor check that every entry is accounted for) to requests
// that authorized accepts, such as a bearer token of a security officer's
// session. Without this option entry bundles are never served. Other
// requests for them get 401.
func WithAuditors(authorized func(*http.Request) bool) Option {
	return func(s *server) { s.auditors = authorized }
}

// entryBundleSize is the size of one framed entry: a 2-byte length and the
// 32-byte commitment.
const entryBundleSize = 2 + auditlog.HashSize

// entries serves an entry bundle to an authorized auditor.
func (s *server) entries(w http.ResponseWriter, r *http.Request, p string) {
	bs, ok := s.src.(bundleSource)
	if s.auditors == nil || !ok {
		s.notFound(w)
		return
	}
	if !s.auditors(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Entry bundles are for authenticated auditors.", http.StatusUnauthorized)
		return
	}
	rest, _ := strings.CutPrefix(p, "tile/entries/")
	index, partial, err := layout.ParseTileIndexPartial(rest)
	if err != nil || layout.EntriesPath(index, partial) != p {
		s.notFound(w)
		return
	}
	width := auditlog.TileWidth
	if partial > 0 {
		width = int(partial)
	}
	in := func(size uint64) bool { return inTree(0, index, width, size) }
	cp, err := s.latest(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !in(cp.Size) {
		s.notFound(w)
		return
	}
	// As for tiles, a partial bundle may have to be cut from a wider one.
	widths := []int{width}
	if width < auditlog.TileWidth {
		if cur := int(cp.Size % auditlog.TileWidth); index == cp.Size/auditlog.TileWidth && cur > width {
			widths = append(widths, cur)
		}
		widths = append(widths, auditlog.TileWidth)
	}
	for _, wd := range widths {
		data, err := bs.ReadEntryBundle(r.Context(), index, wd)
		if confidant.IsKind(err, confidant.KindNotFound) {
			continue
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(data) != wd*entryBundleSize {
			s.fail(w, r, confidant.Errorf(confidant.KindInternal, "bad_bundle", "stored bundle has the wrong size"))
			return
		}
		s.write(w, "application/octet-stream", "private, no-store", data[:width*entryBundleSize])
		return
	}
	s.notFound(w)
}
