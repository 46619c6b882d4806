package witness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/auditlog"
)

// FuzzKeyFile: a witness key file either loads into a signer whose
// verifier key matches it, the same on every load, or is refused with an
// error that does not quote the file (a private key); it never panics and
// a damaged file is never replaced.
func FuzzKeyFile(f *testing.F) {
	skey, _, err := auditlog.GenerateKey(nil, "witness.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(skey + "\n"))
	f.Add([]byte(skey))
	f.Add([]byte(strings.Replace(skey, "PRIVATE+KEY", "PUBLIC+KEY", 1)))
	f.Add([]byte("PRIVATE+KEY+name+00000000+AQ=="))
	f.Add([]byte("PRIVATE+KEY+a+b+c+d"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, keyFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, vkey, created, err := LoadKey(dir, "witness.example")
		if err != nil {
			if trimmed := strings.TrimSpace(string(b)); len(trimmed) > 8 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("the error quotes the key file: %v", err)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil || string(after) != string(b) {
				t.Fatal("a damaged key file was replaced")
			}
			return
		}
		if created {
			t.Fatal("an existing key file was replaced")
		}
		if s == nil || vkey == "" || !strings.HasPrefix(vkey, s.Name()+"+") {
			t.Fatalf("signer %v, verifier key %q", s, vkey)
		}
		_, again, _, err := LoadKey(dir, "other")
		if err != nil || again != vkey {
			t.Fatalf("second load: %q, %v; first %q", again, err, vkey)
		}
	})
}

// FuzzStateFile: a witness state file either opens into the size it
// records (with a root of the hash size when the size is not 0) or is
// refused as damaged; it never panics.
func FuzzStateFile(f *testing.F) {
	l := newTestLog(f)
	good, _ := json.Marshal(state{Size: 3, Root: make([]byte, auditlog.HashSize), Checkpoint: "x"})
	f.Add(good)
	f.Add([]byte(`{"size":0}`))
	f.Add([]byte(`{"size":5,"root":"AAAA"}`))
	f.Add([]byte(`{"size":-1}`))
	f.Add([]byte(`{"size":18446744073709551615,"root":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := New(Config{Dir: dir, Name: "witness.example", LogOrigin: origin, LogKey: l.vkey})
		if err != nil {
			if !strings.Contains(err.Error(), "state file is damaged") {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		var st state
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("opened a state that does not parse: %v", err)
		}
		if w.Size() != st.Size || (st.Size > 0 && len(st.Root) != auditlog.HashSize) {
			t.Fatalf("opened at size %d from %+v", w.Size(), st)
		}
	})
}
