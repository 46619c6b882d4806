// Package mail sends Confidant's messages to people (invitations, sign-in
// notices, alerts): through an SMTP server, or, when none is configured
// (the demo), into an outbox folder of .eml files on the server's machine,
// which only its operator reads. Messages are composed by
// github.com/wneessen/go-mail in both cases, so an .eml file is exactly
// what SMTP would have carried.
//
// Errors never quote a message, its recipients or the SMTP server's reply
// (which can echo an address): only the stage of the SMTP exchange that
// failed and whether the failure is temporary.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	confidant "github.com/confidanthealth/confidant"
)

// Message is one plain-text message.
type Message struct {
	To      []string // addresses (RFC 5322 addr-spec), at least one
	Subject string   // one line
	Text    string   // the body, plain text
	// MessageID, when set, is the Message-ID's value without the angle
	// brackets (id-left@id-right, e.g. from a durable outbox row, so that
	// a message sent again is recognised as the same); else a random one.
	MessageID string
}

// Sender delivers messages.
type Sender interface {
	// Send delivers m, or returns a *confidant.Error of KindInvalid (a bad
	// message) or KindUnavailable (delivery failed; the caller may retry
	// later).
	Send(ctx context.Context, m Message) error
	// Describe says where messages go, for the operator (no secret).
	Describe() string
}

// SMTPConfig is a parsed SMTP URL: see ParseURL.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string        // empty: no authentication
	Password string        // from a file, never from the URL
	From     string        // envelope and header sender
	TLS      string        // "starttls" (required), "implicit" (smtps) or "none" (loopback only)
	Timeout  time.Duration // per connection; default 30 s
}

// ParseURL parses the SMTP server's URL:
//
//	smtp://[user@]host[:port]?from=ADDR[&tls=starttls|none]
//	smtps://[user@]host[:port]?from=ADDR
//
// smtp:// requires STARTTLS (port 587 by default); smtps:// is TLS from the
// first byte (port 465). tls=none sends in clear and is allowed only to a
// loopback address (a relay on the same machine), so that invitation links
// never cross a network unencrypted. A password in the URL is refused: it
// belongs in a file (--smtp-password-file), not in a flag, an environment
// variable or a process listing.
func ParseURL(raw string) (SMTPConfig, error) {
	bad := func(msg string) (SMTPConfig, error) {
		return SMTPConfig{}, confidant.Errorf(confidant.KindInvalid, "invalid_smtp_url", "SMTP URL: %s", msg)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL (smtp://[user@]host[:port]?from=ADDR).")
	}
	c := SMTPConfig{Timeout: 30 * time.Second}
	switch u.Scheme {
	case "smtp":
		c.Port, c.TLS = 587, "starttls"
	case "smtps":
		c.Port, c.TLS = 465, "implicit"
	default:
		return bad("the scheme must be smtp or smtps.")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return bad("only smtp://[user@]host[:port]?from=ADDR is understood.")
	}
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return bad("put the password in a file (--smtp-password-file), not in the URL.")
		}
		c.Username = u.User.Username()
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return bad("no host.")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port must be a number from 1 to 65535.")
		}
		c.Port = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("the query is malformed.")
	}
	for k, v := range q {
		if len(v) != 1 {
			return bad("each parameter may appear once.")
		}
		switch k {
		case "from":
			a, err := netmail.ParseAddress(v[0])
			if err != nil || a.Name != "" {
				return bad("from must be a plain address such as confidant@clinic.example.")
			}
			c.From = a.Address
		case "tls":
			switch v[0] {
			case "starttls":
				if c.TLS == "implicit" {
					return bad("smtps:// is always TLS; use smtp:// for STARTTLS.")
				}
			case "none":
				if c.TLS == "implicit" {
					return bad("smtps:// is always TLS.")
				}
				if !loopback(c.Host) {
					return bad("tls=none is allowed only to a server on this machine (localhost, 127.0.0.1, ::1).")
				}
				c.TLS = "none"
			default:
				return bad("tls must be starttls or none.")
			}
		default:
			return bad("unknown parameter (from and tls are understood).")
		}
	}
	if c.From == "" {
		return bad("from=ADDR is required: the address messages come from.")
	}
	return c, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// compose builds the go-mail message of m from from, checking it.
func compose(from string, m Message) (*gomail.Msg, error) {
	invalid := func(msg string) error { return confidant.Errorf(confidant.KindInvalid, "invalid_message", "%s", msg) }
	if len(m.To) == 0 {
		return nil, invalid("A message needs at least one recipient.")
	}
	if strings.ContainsAny(m.Subject, "\r\n") || strings.TrimSpace(m.Subject) == "" {
		return nil, invalid("A message's subject must be one non-empty line.")
	}
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, invalid("The sender address is not valid.")
	}
	for _, to := range m.To {
		a, err := netmail.ParseAddress(to)
		if err != nil || a.Name != "" {
			return nil, invalid("A recipient address is not valid.")
		}
	}
	if err := msg.To(m.To...); err != nil {
		return nil, invalid("A recipient address is not valid.")
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.MessageID != "" {
		if strings.ContainsAny(m.MessageID, "<>\r\n \t") || strings.Count(m.MessageID, "@") != 1 {
			return nil, invalid("A message id must be id-left@id-right.")
		}
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// SMTP sends through an SMTP server.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP returns a sender over the server cfg describes.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" || cfg.Port == 0 {
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_smtp_url", "SMTP: host, port and sender are required.")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

// Describe names the server (no credentials).
func (s *SMTP) Describe() string {
	return fmt.Sprintf("SMTP server %s (%s)", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), s.cfg.TLS)
}

func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		// Over TLS the strongest mechanism the server offers; in clear
		// (loopback only) PLAIN, which go-mail's discovery will not pick
		// without TLS.
		auth := gomail.SMTPAuthAutoDiscover
		if s.cfg.TLS == "none" {
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// Send delivers m through the server.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := compose(s.cfg.From, m)
	if err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return confidant.Wrap(errors.New("smtp: client configuration refused"), confidant.KindUnavailable, "mail_unavailable",
			"The message could not be sent.")
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return confidant.Wrap(safeCause(err), confidant.KindUnavailable, "mail_unavailable", "The message could not be sent.")
	}
	return nil
}

// safeCause describes an SMTP failure without the server's reply or any
// address: the stage that failed and whether it is temporary.
func safeCause(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return fmt.Errorf("smtp: %s (temporary: %t)", se.Reason, se.IsTemp())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("smtp: network error (timeout: %t)", ne.Timeout())
	}
	return errors.New("smtp: the server refused the connection, TLS or authentication")
}

// Outbox writes each message as an .eml file into a folder, for the demo
// and for servers with no SMTP server configured. The folder (mode 0700)
// and its files (0600) are the operator's: no page of the application
// shows them.
type Outbox struct {
	dir  string
	from string
}

// NewOutbox returns a sender into dir, created if needed; from is the
// sender address written into the messages.
func NewOutbox(dir, from string) (*Outbox, error) {
	if from == "" {
		from = "confidant@localhost"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	return &Outbox{dir: dir, from: from}, nil
}

// Describe names the folder.
func (o *Outbox) Describe() string { return "the outbox folder " + o.dir + " (not delivered)" }

// Send writes m to a new file, whole or not at all.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	msg, err := compose(o.from, m)
	if err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	tmp, err := os.CreateTemp(o.dir, ".tmp-*")
	if err != nil {
		return confidant.Wrap(err, confidant.KindUnavailable, "mail_unavailable", "The message could not be written to the outbox.")
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return confidant.Wrap(err, confidant.KindUnavailable, "mail_unavailable", "The message could not be written to the outbox.")
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return confidant.Wrap(err, confidant.KindUnavailable, "mail_unavailable", "The message could not be written to the outbox.")
	}
	if err := tmp.Close(); err != nil {
		return confidant.Wrap(err, confidant.KindUnavailable, "mail_unavailable", "The message could not be written to the outbox.")
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.dir, name)); err != nil {
		return confidant.Wrap(err, confidant.KindUnavailable, "mail_unavailable", "The message could not be written to the outbox.")
	}
	return nil
}
