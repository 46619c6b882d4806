package sqlite

import (
	"testing"
	"testing/fstest"
)

func TestMigrationFiles(t *testing.T) {
	if _, err := loadMigrations(migrationFiles); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	if LatestVersion() < 1 {
		t.Fatalf("no migrations embedded")
	}

	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name string
		fsys fstest.MapFS
		ok   bool
	}{
		{"ordered", fstest.MapFS{"migrations/0001_a.sql": file("x"), "migrations/0002_b.sql": file("y")}, true},
		{"gap", fstest.MapFS{"migrations/0001_a.sql": file("x"), "migrations/0003_c.sql": file("y")}, false},
		{"duplicate", fstest.MapFS{"migrations/0001_a.sql": file("x"), "migrations/0001_b.sql": file("y")}, false},
		{"not starting at 1", fstest.MapFS{"migrations/0002_b.sql": file("y")}, false},
		{"bad name", fstest.MapFS{"migrations/init.sql": file("x")}, false},
		{"short number", fstest.MapFS{"migrations/1_init.sql": file("x")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrations(tc.fsys)
			if (err == nil) != tc.ok {
				t.Errorf("loadMigrations error = %v, want ok = %v", err, tc.ok)
			}
		})
	}
}
