package testfix

import (
	"context"
	"path/filepath"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/seal"
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

// Seal returns a sealing store over backend with keys from k, with the
// blind-index key prepared.
func Seal(t testing.TB, backend confidant.SealedStore, k *keys.Keyring) *seal.Store {
	t.Helper()
	if err := seal.Prepare(context.Background(), backend, k); err != nil {
		t.Fatal(err)
	}
	return seal.New(backend, k)
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

// SQLite returns a sealing store over a fresh SQLite database with a fresh
// file KEK: the full storage path of the product.
func SQLite(t testing.TB) *seal.Store {
	t.Helper()
	return Seal(t, SQLiteBackend(t), Keyring(t))
}
