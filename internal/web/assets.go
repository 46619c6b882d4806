package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file with its content hash.
type asset struct {
	body  []byte
	ctype string
	etag  string
	url   string // /static/name?v=hash: changes whenever the content does
}

// assets are the embedded static files, served with a long cache lifetime
// because their URLs carry a content hash.
type assets struct {
	byName map[string]asset
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		v := hex.EncodeToString(sum[:6])
		name := path.Base(p)
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.byName[name] = asset{body: b, ctype: ctype, etag: `"` + v + `"`, url: "/static/" + name + "?v=" + v}
		return nil
	})
	return a, err
}

// URL returns the versioned URL of a static file, or "" if there is none.
func (a *assets) URL(name string) string { return a.byName[name].url }

// static serves an embedded file. httpx.Secure has set no-store; a
// versioned asset may be cached for a year instead.
func (s *server) static(w http.ResponseWriter, r *http.Request) {
	f, ok := s.assets.byName[r.PathValue("name")]
	if !ok {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
