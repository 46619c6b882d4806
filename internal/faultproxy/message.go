package faultproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Codes of the untyped requests a client may send before its startup
// message (PostgreSQL protocol 3.0, "Message Formats").
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
)

// Limits on a frontend message's declared length. PostgreSQL refuses a
// startup packet over 10000 bytes; other messages are bounded by its 1 GiB
// allocation limit.
const (
	minStartupLen = 8
	maxStartupLen = 10000
	maxMessageLen = 1 << 30
)

// message is one frontend message as read from the wire.
type message struct {
	typ byte   // 0 for the untyped messages of the startup phase
	raw []byte // the whole message as sent: type byte (if any), length, body
}

// body returns the message without its type byte and length.
func (m message) body() []byte {
	if m.typ == 0 {
		return m.raw[4:]
	}
	return m.raw[5:]
}

// startupCode returns the request code of an untyped message (the protocol
// version for a startup message).
func (m message) startupCode() uint32 {
	if m.typ != 0 {
		return 0
	}
	return binary.BigEndian.Uint32(m.raw[4:8])
}

// isCommit reports whether m is a simple query whose whole text is COMMIT
// (or END), as pgx sends for Tx.Commit ("commit").
func (m message) isCommit() bool {
	if m.typ != 'Q' {
		return false
	}
	text := m.queryText()
	return bytes.EqualFold(text, []byte("commit")) || bytes.EqualFold(text, []byte("end"))
}

// queryText is the text of a simple query, without its terminating NUL,
// trimmed of spaces and a final semicolon.
func (m message) queryText() []byte {
	text, _, _ := bytes.Cut(m.body(), []byte{0})
	text = bytes.TrimSpace(text)
	return bytes.TrimSpace(bytes.TrimSuffix(text, []byte(";")))
}

// isBegin reports whether m is a simple query starting a transaction (pgx
// sends "begin", with the isolation level and access mode, if any).
func (m message) isBegin() bool {
	if m.typ != 'Q' {
		return false
	}
	t := m.queryText()
	return len(t) >= 5 && bytes.EqualFold(t[:5], []byte("begin")) && (len(t) == 5 || t[5] == ' ')
}

// isReadOnlyBegin reports whether m begins a READ ONLY transaction.
func (m message) isReadOnlyBegin() bool {
	return m.isBegin() && bytes.Contains(bytes.ToLower(m.queryText()), []byte("read only"))
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (s string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// parse returns the statement name and query text of a Parse message.
func (m message) parse() (name, text string, ok bool) {
	if m.typ != 'P' {
		return "", "", false
	}
	name, rest, ok := cstring(m.body())
	if !ok {
		return "", "", false
	}
	text, _, ok = cstring(rest)
	return name, text, ok
}

// bindStatement returns the statement name a Bind message executes.
func (m message) bindStatement() (string, bool) {
	if m.typ != 'B' {
		return "", false
	}
	_, rest, ok := cstring(m.body()) // the portal
	if !ok {
		return "", false
	}
	name, _, ok := cstring(rest)
	return name, ok
}

// endsQuery reports whether m completes a query the server will now run: a
// simple query, or the Sync that ends an extended-protocol batch.
func (m message) endsQuery() bool { return m.typ == 'Q' || m.typ == 'S' }

var errMalformed = errors.New("faultproxy: malformed frontend message")

// readMessage reads one frontend message from r: untyped (int32 length,
// then the body whose first int32 is the request code) in the startup
// phase, typed (one type byte, int32 length including itself, body)
// afterwards. It never allocates more than the bytes actually read plus a
// small buffer, whatever length a message declares.
func readMessage(r io.Reader, startup bool) (message, error) {
	var hdr [5]byte
	h := hdr[:5]
	if startup {
		h = hdr[:4]
	}
	if _, err := io.ReadFull(r, h); err != nil {
		return message{}, err
	}
	var m message
	var n uint32
	if startup {
		n = binary.BigEndian.Uint32(h)
		if n < minStartupLen || n > maxStartupLen {
			return message{}, fmt.Errorf("%w: startup length %d", errMalformed, n)
		}
	} else {
		m.typ = h[0]
		if m.typ == 0 {
			return message{}, fmt.Errorf("%w: type byte 0", errMalformed)
		}
		n = binary.BigEndian.Uint32(h[1:])
		if n < 4 || n > maxMessageLen {
			return message{}, fmt.Errorf("%w: length %d", errMalformed, n)
		}
	}
	rest := int64(n) - 4
	var buf bytes.Buffer
	buf.Grow(len(h) + int(min(rest, 4096)))
	buf.Write(h)
	if got, err := io.CopyN(&buf, r, rest); err != nil {
		if err == io.EOF && got < rest {
			err = io.ErrUnexpectedEOF
		}
		return message{}, err
	}
	m.raw = buf.Bytes()
	return m, nil
}
