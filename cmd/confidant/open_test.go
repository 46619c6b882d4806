package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLogErrorsAreLogged checks that the access log's own errors
// reach the logger given to openApp: a batch that cannot be written is
// refused to the caller and logged.
func TestAccessLogErrorsAreLogged(t *testing.T) {
	var buf lockedBuffer
	a, err := openApp(t.Context(), resolve(t, "--data", t.TempDir()), io.Discard,
		openOptions{createKEK: true, logger: warnLogger(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.backend.Close() // the database goes away under the access log
	err = a.store.Update(t.Context(), func(tx confidant.Tx) error {
		return tx.CreateClinic(t.Context(), confidant.Clinic{ID: confidant.NewID(), Name: "C", CreatedAt: time.Now().UTC()})
	})
	if err == nil {
		t.Fatal("Update on a closed database succeeded")
	}
	if log := buf.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "access log batch failed") {
		t.Errorf("the failed batch is not in the log:\n%s", log)
	}
}

// TestServerLoggerLimits checks that the server's log rate-limits
// repeated errors and leaves request lines alone.
func TestServerLoggerLimits(t *testing.T) {
	var buf lockedBuffer
	log := newServerLogger(t.Context(), &buf, slog.LevelInfo)
	for range 100 {
		log.Error("request failed", "code", "database_unavailable", "err", "dial tcp 127.0.0.1:5432: connection refused")
		log.Info("request", "route", "GET /healthz")
	}
	out := buf.String()
	if n := strings.Count(out, "msg=\"request failed\""); n == 0 || n > 10 {
		t.Errorf("%d of 100 identical errors written, want a few", n)
	}
	if n := strings.Count(out, "msg=request "); n != 100 {
		t.Errorf("%d of 100 request lines written, want all", n)
	}
}

// TestOpenAppCallsPassALogger is an architecture rule: every command gives
// openApp a logger, so that the access log's own errors are not sent to a
// default the command did not choose (serve and demo once passed none, and
// a failed batch or checkpoint signature left no trace).
func TestOpenAppCallsPassALogger(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "openApp" || len(call.Args) != 4 {
				return true
			}
			calls++
			lit, ok := call.Args[3].(*ast.CompositeLit)
			if !ok {
				t.Errorf("%s: openApp's options are not a literal; cannot check the logger", fset.Position(call.Pos()))
				return true
			}
			for _, e := range lit.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "logger" {
						return true
					}
				}
			}
			t.Errorf("%s: openApp without a logger", fset.Position(call.Pos()))
			return true
		})
	}
	if calls < 5 {
		t.Errorf("found %d calls of openApp; is the rule still looking in the right place?", calls)
	}
}
