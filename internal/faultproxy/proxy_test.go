package faultproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// fakeServer is a stand-in for PostgreSQL: it reads a startup message and
// then typed messages, reports each on got, and answers every Query and
// Sync with ReadyForQuery.
type fakeServer struct {
	ln  net.Listener
	got chan message
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, got: make(chan message, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	startup := true
	for {
		m, err := readMessage(c, startup)
		if err != nil {
			return
		}
		startup = false
		s.got <- m
		if m.endsQuery() {
			c.Write(readyForQuery)
		}
	}
}

var readyForQuery = []byte{'Z', 0, 0, 0, 5, 'I'}

func untyped(code uint32, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, body...)
}

func typed(typ byte, body string) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(body)))
	return append(b, body...)
}

func query(text string) []byte { return typed('Q', text+"\x00") }

// client dials the proxy, asks for SSL (refused), and sends a startup
// message.
func client(t *testing.T, p *Proxy, s *fakeServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(untyped(codeSSLRequest, ""))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'N' {
		t.Fatalf("SSLRequest: %q %v, want N", b, err)
	}
	c.Write(untyped(196608, "user\x00postgres\x00\x00"))
	if m := recv(t, s); m.startupCode() != 196608 {
		t.Fatalf("the server got %q, not the startup message", m.raw)
	}
	return c
}

func recv(t *testing.T, s *fakeServer) message {
	t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the server got nothing")
		return message{}
	}
}

func expectReply(t *testing.T, c net.Conn) {
	t.Helper()
	b := make([]byte, len(readyForQuery))
	if _, err := io.ReadFull(c, b); err != nil || !bytes.Equal(b, readyForQuery) {
		t.Fatalf("reply %q, %v", b, err)
	}
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	b := make([]byte, 16)
	n, err := c.Read(b)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the client read %q, %v; want the connection closed", b[:n], err)
	}
}

// expectEnd reads until the connection ends, and fails if it does not
// (the deadline passes). A reset forwards the query, so the server's answer
// may race ahead of it to the client: what comes before the end is
// ignored.
func expectEnd(t *testing.T, c net.Conn) {
	t.Helper()
	b := make([]byte, 64)
	for {
		_, err := c.Read(b)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the connection was not reset: %v", err)
		}
		return
	}
}

func newProxy(t *testing.T, s *fakeServer) *Proxy {
	t.Helper()
	p, err := New(s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPassThrough(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	for _, msg := range [][]byte{query("select 1"), typed('P', "\x00select $1\x00\x00\x00"), typed('S', "")} {
		c.Write(msg)
		if m := recv(t, s); !bytes.Equal(m.raw, msg) {
			t.Fatalf("the server got %q, want %q", m.raw, msg)
		}
		if msg[0] != 'P' {
			expectReply(t, c)
		}
	}
}

func TestDropCommitReply(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	done := p.DropNextCommitReply()
	c.Write(query("select 1")) // not a commit: answered
	recv(t, s)
	expectReply(t, c)
	c.Write(query("begin isolation level repeatable read read only"))
	recv(t, s)
	expectReply(t, c)
	c.Write(query("commit")) // a read's commit: answered
	recv(t, s)
	expectReply(t, c)
	c.Write(query("begin isolation level read committed read write"))
	recv(t, s)
	expectReply(t, c)
	c.Write(query("commit"))
	if m := recv(t, s); !m.isCommit() {
		t.Fatalf("the server got %q, not the COMMIT", m.raw)
	}
	expectClosed(t, c)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the drop was not reported")
	}
	if p.DroppedCommits() != 1 {
		t.Errorf("DroppedCommits = %d", p.DroppedCommits())
	}
	// Disarmed: the next connection's commit is answered.
	c2 := client(t, p, s)
	c2.Write(query("COMMIT;"))
	recv(t, s)
	expectReply(t, c2)
}

func TestIsBegin(t *testing.T) {
	for text, want := range map[string][2]bool{
		"begin": {true, false}, "BEGIN;": {true, false},
		"begin isolation level repeatable read read only": {true, true},
		"begin isolation level read committed read write": {true, false},
		"beginning": {false, false}, "select 'begin read only'": {false, false},
	} {
		m, err := readMessage(bytes.NewReader(query(text)), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]bool{m.isBegin(), m.isReadOnlyBegin()}; got != want {
			t.Errorf("%q: isBegin, isReadOnlyBegin = %v, want %v", text, got, want)
		}
	}
}

func TestResetNextQuery(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	done := p.ResetNextQuery()
	c.Write(typed('P', "\x00select 1\x00\x00\x00")) // part of a query: forwarded
	recv(t, s)
	c.Write(typed('S', ""))
	recv(t, s) // the query reached the server ...
	expectEnd(t, c)
	<-done
}

func TestResetNextQueryMatching(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	// Prepared before arming, as pgx does once per connection.
	c.Write(typed('P', "stmt_1\x00select * from audit_tiles\x00\x00\x00"))
	recv(t, s)
	c.Write(typed('S', ""))
	recv(t, s)
	expectReply(t, c)
	done := p.ResetNextQueryMatching("from audit_tiles")
	c.Write(query("select 1")) // does not match
	recv(t, s)
	expectReply(t, c)
	c.Write(typed('B', "\x00stmt_other\x00\x00\x00\x00\x00\x00\x00"))
	recv(t, s)
	c.Write(typed('S', "")) // nor does another statement
	recv(t, s)
	expectReply(t, c)
	c.Write(typed('B', "\x00stmt_1\x00\x00\x00\x00\x00\x00\x00"))
	recv(t, s)
	c.Write(typed('E', "\x00\x00\x00\x00\x00"))
	recv(t, s)
	c.Write(typed('S', ""))
	recv(t, s) // the execution reached the server, then the reset
	expectEnd(t, c)
	<-done
}

func TestStallResumeAndCut(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	p.Stall()
	c.Write(query("select 1"))
	select {
	case m := <-s.got:
		t.Fatalf("the server got %q during a stall", m.raw)
	case <-time.After(100 * time.Millisecond):
	}
	p.Resume()
	recv(t, s)
	expectReply(t, c)

	p.Stall()
	c.Write(query("select 2"))
	p.Cut()
	expectClosed(t, c)
	// The proxy still accepts and forwards afterwards.
	c2 := client(t, p, s)
	c2.Write(query("select 3"))
	recv(t, s)
	expectReply(t, c2)
}

func TestResetAll(t *testing.T) {
	s := newFakeServer(t)
	p := newProxy(t, s)
	c := client(t, p, s)
	p.ResetAll()
	expectClosed(t, c)
}

func TestIsCommit(t *testing.T) {
	for text, want := range map[string]bool{
		"commit": true, "COMMIT": true, " commit ; ": true, "end": true,
		"commit and chain": false, "select 'commit'": false, "rollback": false, "": false,
	} {
		m, err := readMessage(bytes.NewReader(query(text)), false)
		if err != nil {
			t.Fatal(err)
		}
		if m.isCommit() != want {
			t.Errorf("isCommit(%q) = %v", text, !want)
		}
	}
}

func TestReadMessageRefuses(t *testing.T) {
	for name, in := range map[string][]byte{
		"startup too short":  {0, 0, 0, 4, 0, 0, 0, 0},
		"startup too long":   binary.BigEndian.AppendUint32(nil, maxStartupLen+1),
		"length below 4":     {'Q', 0, 0, 0, 3},
		"length over 1 GiB":  {'Q', 0x40, 0, 0, 1},
		"type byte zero":     {0, 0, 0, 0, 4},
		"truncated body":     {'Q', 0, 0, 0, 9, 'a'},
		"truncated header":   {'Q', 0, 0},
		"no startup message": nil,
	} {
		startup := name[:7] == "startup" || name == "no startup message"
		if _, err := readMessage(bytes.NewReader(in), startup); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
