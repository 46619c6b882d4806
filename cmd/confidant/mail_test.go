package main

import (
	"errors"
	"io"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpSink is an in-process SMTP server (github.com/emersion/go-smtp) that
// accepts PLAIN as ops / relay-password and keeps the messages' bodies.
type smtpSink struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (b *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{b: b}, nil }

type sinkSession struct {
	b    *smtpSink
	auth bool
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "ops" || pass != "relay-password" {
			return errors.New("invalid credentials")
		}
		s.auth = true
		return nil
	}), nil
}
func (s *sinkSession) Mail(string, *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, b)
	s.b.mu.Unlock()
	return err
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

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

	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("relay-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "smtp://ops@" + l.Addr().String() + "?from=confidant@clinic.example&tls=none"
	code, out, errOut = runCmd(t, "mail", "test", "--data", data, "--to", "ops@clinic.example", "--smtp-url", url, "--smtp-password-file", pwFile)
	if code != 0 || !strings.Contains(out, "sent through SMTP server") {
		t.Fatalf("mail test through SMTP: exit %d, %q %q", code, out, errOut)
	}
	sink.mu.Lock()
	n := len(sink.msgs)
	sink.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d messages reached the SMTP server, want 1", n)
	}
	if strings.Contains(out+errOut, "relay-password") {
		t.Error("the output shows the SMTP password")
	}

	code, _, errOut = runCmd(t, "mail", "test", "--data", data, "--to", "ops@clinic.example",
		"--smtp-url", "smtp://ops:relay-password@"+l.Addr().String()+"?from=confidant@clinic.example&tls=none")
	if code == 0 || !strings.Contains(errOut, "password in a file") || strings.Contains(errOut, "relay-password") {
		t.Fatalf("a password in the URL: exit %d, %q", code, errOut)
	}
}
