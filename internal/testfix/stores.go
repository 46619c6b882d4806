package testfix

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
)

// Keyring returns a keyring over a fresh file KEK in a temporary directory.
func Keyring(t testing.TB) *keys.Keyring {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys", "kek.json")
	if err := keys.CreateFile(path, nil); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Open(keys.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// Seal returns the product's storage stack over backend: the access log
// (internal/audit) wrapping the database, and the sealing store over it,
// with the blind-index key prepared. The returned store's Backend is the
// *audit.Log, which New wires into the service.
func Seal(t testing.TB, backend confidant.SealedStore, k *keys.Keyring) *seal.Store {
	t.Helper()
	ctx := context.Background()
	if err := seal.Prepare(ctx, backend, k); err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, backend, k, audit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	k.OnUnwrap(log.KeyUse)
	st := seal.New(log, k)
	st.OnForgedFact(service.ForgedFactReporter(log))
	return st
}

// SQLiteBackend opens a fresh SQLite database in a temporary directory.
func SQLiteBackend(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "confidant.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SQLite returns the full storage path of the product over a fresh SQLite
// database and a fresh file KEK.
func SQLite(t testing.TB) *seal.Store {
	t.Helper()
	return Seal(t, SQLiteBackend(t), Keyring(t))
}

// Log returns the access log under a store made by Seal (or any store with
// a Backend method returning it), or nil.
func Log(st confidant.Store) *audit.Log {
	if s, ok := st.(interface{ Backend() confidant.SealedStore }); ok {
		if l, ok := s.Backend().(*audit.Log); ok {
			return l
		}
	}
	return nil
}
