package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/confidanthealth/confidant/internal/mail"
)

// openMailer returns the sender the configuration names: the SMTP server of
// --smtp-url, its password read from --smtp-password-file, or else the
// outbox folder DATA/outbox (delivered false).
func openMailer(cfg Config) (s mail.Sender, delivered bool, err error) {
	if cfg.SMTPURL == "" {
		o, err := mail.NewOutbox(filepath.Join(cfg.Data, "outbox"), "")
		return o, false, err
	}
	sc, err := mail.ParseURL(cfg.SMTPURL)
	if err != nil {
		return nil, false, err
	}
	if cfg.SMTPPasswordFile != "" {
		b, err := os.ReadFile(cfg.SMTPPasswordFile)
		if err != nil {
			return nil, false, fmt.Errorf("smtp-password-file: %w", err)
		}
		sc.Password = strings.TrimRight(string(b), "\r\n")
		if sc.Password == "" {
			return nil, false, errors.New("smtp-password-file is empty")
		}
	}
	if sc.Password != "" && sc.Username == "" {
		return nil, false, errors.New("smtp-password-file is set but smtp-url names no user (smtp://user@host...)")
	}
	smtp, err := mail.NewSMTP(sc)
	return smtp, true, err
}

// runMail: `confidant mail test --to ADDR` sends a test message the way the
// server would, so that an operator can check the SMTP configuration.
func runMail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := newFlagSet("mail", "mail test --to ADDR [config flags]", stderr)
	config := configFlags(fs)
	to := fs.String("to", "", "address to send the test message to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if sub != "test" || *to == "" {
		fmt.Fprintln(stderr, "usage: confidant mail test --to ADDR [config flags]")
		return errUsage
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	s, delivered, err := openMailer(cfg)
	if err != nil {
		return err
	}
	err = s.Send(ctx, mail.Message{To: []string{*to}, Subject: "Confidant test message",
		Text: "This is a test message from Confidant. Mail is configured; nothing else needs to be done.\n"})
	if err != nil {
		return err
	}
	if delivered {
		fmt.Fprintf(stdout, "test message sent through %s\n", s.Describe())
	} else {
		fmt.Fprintf(stdout, "no --smtp-url: the test message was written to %s\n", s.Describe())
	}
	return nil
}
