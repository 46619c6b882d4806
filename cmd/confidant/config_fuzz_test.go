package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadConfigFile: the configuration file is outside input; any bytes
// either parse into known settings or give an error, never a panic.
func FuzzReadConfigFile(f *testing.F) {
	for _, s := range []string{`{}`, `{"addr":"127.0.0.1:1"}`, `{"secure_cookies":true,"max_attachment_mib":3}`, `[]`, `{"x":1}`, `{"addr":{"a":1}}`, "\xff", ``} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "c.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := readConfigFile(path, true)
		if err != nil {
			return
		}
		for k := range m {
			found := false
			for _, s := range settings {
				if k == s.name || k == underscore(s.name) {
					found = true
				}
			}
			if !found {
				t.Fatalf("unknown key %q accepted", k)
			}
		}
	})
}

func underscore(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}
