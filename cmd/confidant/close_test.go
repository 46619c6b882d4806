package main

import (
	"io"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// TestUserSetClose: `confidant user create --address` and `confidant user
// set-close` give a staff account the blind indexes of an address and an
// identity code (or clear them), each change an account.update event,
// and print neither value.
func TestUserSetClose(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCmd(t, "init", "--data", dir, "--org", "Test Oy", "--clinic", "Helsinki"); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	const home = "Kotikatu 1 A 2, 00100 Helsinki"
	if code, out, errOut := runCmd(t, "user", "create", "--data", dir, "--username", "sec2", "--name", "Second Officer", "--role", "security", "--address", home); code != 0 || strings.Contains(out+errOut, "Kotikatu") {
		t.Fatalf("user create --address: %d %s %s", code, out, errOut)
	}
	indexes := func() (identity, address []byte) {
		t.Helper()
		a, err := openApp(t.Context(), resolve(t, "--data", dir), io.Discard, openOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		var u confidant.User
		if err := a.store.View(t.Context(), func(tx confidant.Tx) error {
			var err error
			u, err = tx.UserByUsername(t.Context(), "sec2")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return u.IdentityIndex, u.AddressIndex
	}
	id0, addr0 := indexes()
	if len(id0) != 0 || len(addr0) == 0 {
		t.Fatalf("created: identity index %x, address index %x", id0, addr0)
	}

	for _, bad := range [][]string{
		{},                                 // nothing to set
		{"--clear", "--address", home},     // both
		{"--identity-code", "010190-902X"}, // bad check character
		{"--address", "--- ,"},             // no letter or digit
	} {
		args := append(append([]string{"user", "set-close", "--data", dir}, bad...), "sec2")
		if code, out, errOut := runCmd(t, args...); code != 1 || strings.Contains(out+errOut, "010190") {
			t.Errorf("set-close %q: %d %s %s", bad, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "user", "set-close", "--data", dir, "--address", home, "nobody"); code != 1 {
		t.Errorf("set-close of no account: %d %s", code, errOut)
	}
	code, out, errOut := runCmd(t, "user", "set-close", "--data", dir, "--identity-code", "010190-902S", "sec2")
	if code != 0 || !strings.Contains(out, "identity code: set; address: set") || strings.Contains(out+errOut, "010190") {
		t.Fatalf("set-close --identity-code: %d %s %s", code, out, errOut)
	}
	if id, addr := indexes(); len(id) == 0 || string(addr) != string(addr0) {
		t.Errorf("after set-close --identity-code: %x, %x", id, addr)
	}
	code, out, errOut = runCmd(t, "user", "set-close", "--data", dir, "--clear", "sec2")
	if code != 0 || !strings.Contains(out, "identity code: none; address: none") {
		t.Fatalf("set-close --clear: %d %s %s", code, out, errOut)
	}
	if id, addr := indexes(); id != nil || addr != nil {
		t.Errorf("after set-close --clear: %x, %x", id, addr)
	}

	a, err := openApp(t.Context(), resolve(t, "--data", dir), io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	evs, err := a.log.Query(t.Context(), confidant.EventFilter{Action: "account.update", Limit: 10})
	if err != nil || len(evs) != 2 {
		t.Errorf("account.update events: %d (%v), want 2", len(evs), err)
	}
}
