// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) in
// the test's process, without TLS on a loopback port, that accepts PLAIN
// authentication with one user name and password and keeps every message,
// so that tests deliver mail the way a server would and read what arrived.
package mailtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message as the server received it.
type Message struct {
	User string   // the authenticated user
	From string   // the envelope sender
	To   []string // the envelope recipients
	Data []byte   // the message, headers and body
}

// Server is an SMTP server for one test.
type Server struct {
	Addr string // host:port on 127.0.0.1

	user, pass string
	mu         sync.Mutex
	msgs       []Message
}

// Start starts a server that accepts user and pass, stopped when the test
// ends.
func Start(t testing.TB, user, pass string) *Server {
	t.Helper()
	s := &Server{user: user, pass: pass}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s    *Server
	auth bool
	cur  Message
}

func (c *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (c *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != c.s.user || pass != c.s.pass {
			return errors.New("invalid credentials")
		}
		c.auth, c.cur.User = true, user
		return nil
	}), nil
}

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	if !c.auth {
		return smtp.ErrAuthRequired
	}
	c.cur.From = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.cur.To = append(c.cur.To, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.cur.Data = b
	c.s.mu.Lock()
	c.s.msgs = append(c.s.msgs, c.cur)
	c.s.mu.Unlock()
	return nil
}

func (c *session) Reset()        { c.cur = Message{User: c.cur.User} }
func (c *session) Logout() error { return nil }
