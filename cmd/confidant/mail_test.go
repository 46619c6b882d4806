package main

import (
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/mail/mailtest"
)

// TestMailTest: `confidant mail test` writes to DATA/outbox without
// --smtp-url, delivers through the SMTP server of --smtp-url with the
// password from its file, and refuses a password in the URL.
func TestMailTest(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runCmd(t, "mail", "test", "--data", data, "--to", "ops@clinic.example")
	if code != 0 || !strings.Contains(out, "outbox") {
		t.Fatalf("mail test without SMTP: exit %d, %q %q", code, out, errOut)
	}
	ents, err := os.ReadDir(filepath.Join(data, "outbox"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("outbox: %v, %v", ents, err)
	}
	raw, err := os.ReadFile(filepath.Join(data, "outbox", ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := netmail.ReadMessage(strings.NewReader(string(raw))); err != nil || m.Header.Get("Subject") != "Confidant test message" {
		t.Fatalf("the outbox file is not the test message: %v", err)
	}

	srv := mailtest.Start(t, "ops", "relay-password")
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("relay-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "smtp://ops@" + srv.Addr + "?from=confidant@clinic.example&tls=none"
	code, out, errOut = runCmd(t, "mail", "test", "--data", data, "--to", "ops@clinic.example", "--smtp-url", url, "--smtp-password-file", pwFile)
	if code != 0 || !strings.Contains(out, "sent through SMTP server") {
		t.Fatalf("mail test through SMTP: exit %d, %q %q", code, out, errOut)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages reached the SMTP server, want 1", n)
	}
	if strings.Contains(out+errOut, "relay-password") {
		t.Error("the output shows the SMTP password")
	}

	code, _, errOut = runCmd(t, "mail", "test", "--data", data, "--to", "ops@clinic.example",
		"--smtp-url", "smtp://ops:relay-password@"+srv.Addr+"?from=confidant@clinic.example&tls=none")
	if code == 0 || !strings.Contains(errOut, "password in a file") || strings.Contains(errOut, "relay-password") {
		t.Fatalf("a password in the URL: exit %d, %q", code, errOut)
	}
}
