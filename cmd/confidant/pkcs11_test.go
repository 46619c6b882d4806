//go:build pkcs11

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// softHSM initialises a SoftHSM2 token for the test and returns the flags
// that point Confidant at it. Skips loudly (fatal with CONFIDANT_REQUIRE_HSM=1)
// without SoftHSM2.
func softHSM(t *testing.T, label string) []string {
	t.Helper()
	mod := "/usr/lib/softhsm/libsofthsm2.so"
	util, utilErr := exec.LookPath("softhsm2-util")
	if _, err := os.Stat(mod); err != nil || utilErr != nil {
		msg := fmt.Sprintf("SKIPPING the HSM command tests: SoftHSM2 not installed (%v, %v); apt-get install softhsm2 (mandatory in CI)", err, utilErr)
		if os.Getenv("CONFIDANT_REQUIRE_HSM") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.Mkdir(tokens, 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", "4711-user", "--so-pin", "4712-so").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	pin := filepath.Join(dir, "pin")
	os.WriteFile(pin, []byte("4711-user\n"), 0o600)
	return []string{"--kek-provider", "pkcs11", "--pkcs11-module", mod, "--pkcs11-token", label, "--pkcs11-pin-file", pin}
}

// TestPKCS11EndToEnd runs the product with its KEK in an HSM: seeding,
// status, KEK rotation to a new HSM key, verification, and refusal to start
// when the HSM cannot be reached or the PIN is wrong.
func TestPKCS11EndToEnd(t *testing.T) {
	hsm := softHSM(t, "confidant-test")
	data := filepath.Join(t.TempDir(), "data")
	with := func(args ...string) []string { return append(append(args, "--data", data), hsm...) }

	if code, out, errOut := runCmd(t, with("demo", "--patients", "30", "--no-serve")...); code != 0 {
		t.Fatalf("demo: %s %s", out, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(data), "data-keys")); err == nil {
		t.Error("a KEK file was created although the KEK is in the HSM")
	}
	code, out, errOut := runCmd(t, with("keys", "status")...)
	if code != 0 || !strings.Contains(out, "current KEK key pkcs11:confidant-kek") || !strings.Contains(out, "wrapped by an older KEK key: 0") {
		t.Fatalf("status: %s %s", out, errOut)
	}
	code, out, errOut = runCmd(t, with("keys", "rotate-kek", "--new-label", "confidant-kek-2")...)
	if code != 0 || !strings.Contains(out, "Re-wrapped") {
		t.Fatalf("rotate-kek: %s %s", out, errOut)
	}
	code, out, _ = runCmd(t, with("keys", "status", "--pkcs11-key-label", "confidant-kek-2")...)
	if code != 0 || !strings.Contains(out, "pkcs11:confidant-kek-2") || !strings.Contains(out, "wrapped by an older KEK key: 0") {
		t.Fatalf("status after rotation: %s", out)
	}
	if code, out, errOut := runCmd(t, with("keys", "verify", "--pkcs11-key-label", "confidant-kek-2")...); code != 0 || !strings.Contains(out, "decrypt and verify") {
		t.Fatalf("verify: %s %s", out, errOut)
	}

	// The HSM unreachable, or the wrong PIN: the server does not start.
	bad := slices.Clip(with("serve", "--addr", "127.0.0.1:0", "--pkcs11-key-label", "confidant-kek-2"))
	for name, args := range map[string][]string{
		"missing module": append(bad, "--pkcs11-module", "/nonexistent/libpkcs11.so"),
		"wrong PIN":      append(bad, "--pkcs11-pin-file", writeFile(t, "0000-wrong")),
		"missing key":    append(bad, "--pkcs11-key-label", "no-such-key"),
	} {
		code, _, errOut := runCmd(t, args...)
		if code != 1 || !strings.Contains(errOut, "key-encryption key") {
			t.Errorf("%s: exit %d, %q", name, code, errOut)
		}
		if strings.Contains(errOut, "4711-user") || strings.Contains(errOut, "0000-wrong") {
			t.Errorf("%s: a PIN reached the output", name)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(content+"\n"), 0o600)
	return p
}
