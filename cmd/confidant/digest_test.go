package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A board digest signed by the log verifies with `audit verify-digest`,
// with the data directory or offline with the public key, also when it is
// the whole mail; a tampered one does not; `recipients list` lists.
func TestVerifyDigest(t *testing.T) {
	dir, _ := newDemo(t, 5)
	cfg := resolve(t, "--data", dir)
	a, err := openApp(context.Background(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := a.log.SignDigest("period 2026-11-30T00:00:00Z 2026-12-07T00:00:00Z\nalert no_care 3\nrecipients 1\n")
	if err != nil {
		t.Fatal(err)
	}
	vkey := a.log.VerifierKey()
	a.Close()
	good := filepath.Join(t.TempDir(), "digest.eml")
	mail := "Subject: Confidant board digest\r\n\r\nThe signed digest follows.\r\n\r\n" + strings.ReplaceAll(string(signed), "\n", "\r\n") + "\r\n\r\n"
	if err := os.WriteFile(good, []byte(mail), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "tampered.txt")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(signed), "no_care 3", "no_care 0", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, "audit", "verify-digest", "--data", dir, good); code != 0 || !strings.Contains(out, "alert no_care 3") {
		t.Errorf("verify-digest with the data directory: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "audit", "verify-digest", "--key", vkey, good); code != 0 || !strings.Contains(out, "The digest checks") {
		t.Errorf("verify-digest offline: %d %s %s", code, out, errOut)
	}
	for _, args := range [][]string{{"--data", dir, bad}, {"--key", vkey, bad}} {
		if code, _, errOut := runCmd(t, append([]string{"audit", "verify-digest"}, args...)...); code == 0 || !strings.Contains(errOut, "does NOT check") {
			t.Errorf("a tampered digest: %d %s", code, errOut)
		}
	}
	if code, out, errOut := runCmd(t, "recipients", "list", "--data", dir); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Errorf("recipients list: %d %s %s", code, out, errOut)
	}
}
