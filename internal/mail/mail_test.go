package mail

import (
	"bytes"
	"errors"
	"io"
	"mime"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/mail/mailtest"
)

var testMsg = Message{
	To:      []string{"terapeutti@clinic.example"},
	Subject: "Kutsu: Confidant-tili (ääkköset)",
	Text:    "Hei,\n\nyou are invited. Open the link within 24 hours.\n",
}

// checkMessage parses raw as an RFC 5322 message and checks it carries m.
func checkMessage(t *testing.T, raw []byte, from string, m Message) {
	t.Helper()
	pm, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the message does not parse: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
	if err != nil || subj != m.Subject {
		t.Errorf("subject %q (%v), want %q", subj, err, m.Subject)
	}
	if got, err := pm.Header.AddressList("To"); err != nil || len(got) != 1 || got[0].Address != m.To[0] {
		t.Errorf("To %v (%v)", got, err)
	}
	if got, err := pm.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Address != from {
		t.Errorf("From %v (%v), want %s", got, err, from)
	}
	if pm.Header.Get("Message-Id") == "" || pm.Header.Get("Date") == "" {
		t.Error("no Message-ID or Date")
	}
	body, err := io.ReadAll(pm.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Quoted-printable or 8bit: the ASCII line survives either way.
	if !bytes.Contains(body, []byte("you are invited. Open the link within 24 hours.")) {
		t.Errorf("the body does not carry the text:\n%s", body)
	}
}

// TestSMTPDelivers: a message reaches a real SMTP server (go-smtp, in this
// process), authenticated, from the configured sender to its recipient.
func TestSMTPDelivers(t *testing.T) {
	srv := mailtest.Start(t, "clinic", "s3cret-password")
	addr := srv.Addr
	cfg, err := ParseURL("smtp://clinic@" + addr + "?from=confidant@clinic.example&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "s3cret-password"
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), testMsg); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages received, want 1", len(got))
	}
	if got[0].User != "clinic" || got[0].From != "confidant@clinic.example" || len(got[0].To) != 1 || got[0].To[0] != testMsg.To[0] {
		t.Errorf("envelope: user %q, from %q, to %v", got[0].User, got[0].From, got[0].To)
	}
	checkMessage(t, got[0].Data, "confidant@clinic.example", testMsg)
	if d := s.Describe(); strings.Contains(d, "s3cret") || !strings.Contains(d, addr) {
		t.Errorf("Describe() = %q", d)
	}
}

// TestSMTPRefusedSaysNothing: a refused sign-in to the server is an
// unavailable error that names neither the recipient nor the password.
func TestSMTPRefusedSaysNothing(t *testing.T) {
	srv := mailtest.Start(t, "clinic", "s3cret-password")
	cfg, err := ParseURL("smtp://clinic@" + srv.Addr + "?from=confidant@clinic.example&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "wrong-password"
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), testMsg)
	if confidant.KindOf(err) != confidant.KindUnavailable || confidant.CodeOf(err) != "mail_unavailable" {
		t.Fatalf("Send = %v, want mail_unavailable", err)
	}
	var ce *confidant.Error
	if !errors.As(err, &ce) {
		t.Fatal("not a *confidant.Error")
	}
	for _, text := range []string{err.Error(), ce.Err.Error()} {
		if strings.Contains(text, "terapeutti") || strings.Contains(text, "wrong-password") {
			t.Errorf("the error quotes the recipient or the password: %q", text)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages received", n)
	}
}

// TestSTARTTLSRequired: smtp:// without tls=none refuses a server that
// offers no STARTTLS, sending nothing in clear.
func TestSTARTTLSRequired(t *testing.T) {
	srv := mailtest.Start(t, "clinic", "s3cret-password")
	cfg, err := ParseURL("smtp://clinic@" + srv.Addr + "?from=confidant@clinic.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "s3cret-password"
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), testMsg); confidant.KindOf(err) != confidant.KindUnavailable {
		t.Fatalf("Send without TLS = %v, want it refused", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages sent in clear", n)
	}
}

// TestOutbox: without SMTP each message is one .eml file, readable only by
// the operator, that parses as the message; nothing else is left behind.
func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir, "confidant@demo.example")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Send(t.Context(), testMsg); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("outbox folder mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("%d files in the outbox, want 2", len(ents))
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".eml") {
			t.Errorf("file %q is not an .eml", e.Name())
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("file %s mode %v (%v), want 0600", e.Name(), info.Mode().Perm(), err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, raw, "confidant@demo.example", testMsg)
	}
}

// TestComposeRefuses: a message without recipients, with a bad address or
// a subject that could inject headers is refused before anything is sent
// or written.
func TestComposeRefuses(t *testing.T) {
	dir := t.TempDir()
	o, err := NewOutbox(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{
		{Subject: "s", Text: "t"},
		{To: []string{"not an address"}, Subject: "s"},
		{To: []string{"Name <a@b.example>"}, Subject: "s"},
		{To: []string{"a@b.example"}, Subject: "s\r\nBcc: x@y.example"},
		{To: []string{"a@b.example"}, Subject: " "},
		{To: []string{"a@b.example"}, Subject: "s", MessageID: "no-at-sign"},
		{To: []string{"a@b.example"}, Subject: "s", MessageID: "a@b>\r\nBcc: x@y.example"},
	} {
		if err := o.Send(t.Context(), m); confidant.KindOf(err) != confidant.KindInvalid {
			t.Errorf("Send(%q) = %v, want invalid", m.Subject, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files written for refused messages", len(ents))
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SMTPConfig // zero: refused
	}{
		{"smtp://mail.clinic.example?from=c@clinic.example", SMTPConfig{Host: "mail.clinic.example", Port: 587, From: "c@clinic.example", TLS: "starttls"}},
		{"smtp://user@mail.clinic.example:2525?from=c@clinic.example&tls=starttls", SMTPConfig{Host: "mail.clinic.example", Port: 2525, Username: "user", From: "c@clinic.example", TLS: "starttls"}},
		{"smtps://user@mail.clinic.example?from=c@clinic.example", SMTPConfig{Host: "mail.clinic.example", Port: 465, Username: "user", From: "c@clinic.example", TLS: "implicit"}},
		{"smtp://localhost:25?from=c@clinic.example&tls=none", SMTPConfig{Host: "localhost", Port: 25, From: "c@clinic.example", TLS: "none"}},
		{"smtp://[::1]:25?from=c@clinic.example&tls=none", SMTPConfig{Host: "::1", Port: 25, From: "c@clinic.example", TLS: "none"}},
		{"smtp://user:pass@mail.clinic.example?from=c@clinic.example", SMTPConfig{}}, // password in the URL
		{"smtp://mail.clinic.example?from=c@clinic.example&tls=none", SMTPConfig{}},  // clear text across a network
		{"smtps://localhost?from=c@clinic.example&tls=none", SMTPConfig{}},           // contradiction
		{"smtp://mail.clinic.example", SMTPConfig{}},                                // no sender
		{"smtp://mail.clinic.example?from=Clinic+<c@clinic.example>", SMTPConfig{}}, // not a plain address
		{"smtp://mail.clinic.example?from=c@clinic.example&from=d@clinic.example", SMTPConfig{}},
		{"smtp://mail.clinic.example?from=c@clinic.example&debug=1", SMTPConfig{}},
		{"smtp://mail.clinic.example:0?from=c@clinic.example", SMTPConfig{}},
		{"smtp://mail.clinic.example:99999?from=c@clinic.example", SMTPConfig{}},
		{"smtp://mail.clinic.example/path?from=c@clinic.example", SMTPConfig{}},
		{"http://mail.clinic.example?from=c@clinic.example", SMTPConfig{}},
		{"smtp:opaque", SMTPConfig{}},
		{"", SMTPConfig{}},
	} {
		got, err := ParseURL(tc.in)
		if tc.want.Host == "" {
			if err == nil || confidant.CodeOf(err) != "invalid_smtp_url" {
				t.Errorf("ParseURL(%q) = %+v, %v; want invalid_smtp_url", tc.in, got, err)
			}
			if err != nil && strings.Contains(err.Error(), "pass") && strings.Contains(tc.in, ":pass@") && strings.Contains(err.Error(), ":pass") {
				t.Errorf("the error quotes the password: %v", err)
			}
			continue
		}
		tc.want.Timeout = 30 * time.Second
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseURL: whatever the operator types, ParseURL answers without
// panicking, and what it accepts is complete and never sends in clear
// across a network.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"smtp://mail.clinic.example?from=c@clinic.example",
		"smtps://u@h:465?from=a@b.c",
		"smtp://127.0.0.1:25?from=a@b.c&tls=none",
		"smtp://u:p@h?from=a@b.c",
		"smtp://%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			if confidant.CodeOf(err) != "invalid_smtp_url" {
				t.Fatalf("error %v has code %q", err, confidant.CodeOf(err))
			}
			return
		}
		if c.Host == "" || c.Port < 1 || c.Port > 65535 || c.From == "" || c.Password != "" {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
		if _, err := netmail.ParseAddress(c.From); err != nil {
			t.Fatalf("accepted sender %q", c.From)
		}
		if c.TLS == "none" && !loopback(c.Host) {
			t.Fatalf("accepted clear text to %q", c.Host)
		}
		if _, err := NewSMTP(c); err != nil {
			t.Fatalf("NewSMTP refused what ParseURL accepted: %v", err)
		}
	})
}

// A message id given by the caller (an outbox row's) is the Message-ID.
func TestMessageID(t *testing.T) {
	dir := t.TempDir()
	o, err := NewOutbox(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	m := testMsg
	m.MessageID = "outbox.abc123@confidant.example"
	if err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files", len(ents))
	}
	b, err := os.ReadFile(filepath.Join(dir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Message-Id"); got != "<outbox.abc123@confidant.example>" {
		t.Errorf("Message-ID %q", got)
	}
}
