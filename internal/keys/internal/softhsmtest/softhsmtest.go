//go:build pkcs11

// Package softhsmtest gives tests a fresh SoftHSM2 token.
//
// Tests using it need the Debian package softhsm2 (module
// /usr/lib/softhsm/libsofthsm2.so, softhsm2-util). Without it they are
// skipped with a loud message, or fail when CONFIDANT_REQUIRE_HSM=1 (as in
// CI).
package softhsmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Module is the SoftHSM2 PKCS#11 module, overridable with
// CONFIDANT_SOFTHSM_MODULE.
func Module() string {
	if m := os.Getenv("CONFIDANT_SOFTHSM_MODULE"); m != "" {
		return m
	}
	return "/usr/lib/softhsm/libsofthsm2.so"
}

// Token is an initialised token.
type Token struct {
	Module, Label, PIN, SOPIN string
}

// New initialises a token labelled label in a token directory under
// t.TempDir(), with SOFTHSM2_CONF pointing at a configuration file there
// for the rest of the test. Tests using it must not run in parallel.
func New(t *testing.T, label string) Token {
	t.Helper()
	mod := Module()
	util, utilErr := exec.LookPath("softhsm2-util")
	if _, err := os.Stat(mod); err != nil || utilErr != nil {
		msg := fmt.Sprintf("\n%[1]s\n!!! SoftHSM2 not available (module %[2]s: %[3]v; softhsm2-util: %[4]v).\n"+
			"!!! PKCS#11 tests NOT RUN. Install the softhsm2 package; set CONFIDANT_REQUIRE_HSM=1 to make this fatal.\n%[1]s",
			strings.Repeat("!", 78), mod, err, utilErr)
		if os.Getenv("CONFIDANT_REQUIRE_HSM") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := Token{Module: mod, Label: label, PIN: "1234-user", SOPIN: "5678-so"}
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", tok.PIN, "--so-pin", tok.SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}
