// Package faultproxy is a test helper: a TCP proxy in front of a PostgreSQL
// server that injects the network faults a database client must survive.
// It parses the frontend (client to server) half of the PostgreSQL wire
// protocol so that it can act on one message, and copies the server's bytes
// untouched. It can
//
//   - forward the next COMMIT and drop its reply: the server commits, the
//     client never learns it (DropNextCommitReply);
//   - reset connections in the middle of a query, with a TCP RST: the
//     next query, the next one whose text contains a string, or all of
//     them (ResetNextQuery, ResetNextQueryMatching, ResetAll);
//   - stall: hold every byte in both directions until Resume, or until Cut
//     resets the connections (Stall).
//
// It refuses SSL and GSS encryption requests (the client must use
// sslmode=disable), so that it can read the messages. It is for tests only.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// Proxy forwards connections from its own loopback address to a PostgreSQL
// server. The zero value is not usable; call New. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu         sync.Mutex
	conns      map[*conn]struct{}
	closed     bool
	dropCommit chan struct{} // armed: closed when the next COMMIT's reply was dropped
	resetQuery chan struct{} // armed: closed when the next query was cut by a reset
	resetMatch chan struct{} // armed: closed when the next query matching matchText was cut
	matchText  string
	gate       chan struct{} // nil: flowing; else closed by Resume or Cut
	accepted   atomic.Int64
	dropped    atomic.Int64
	wg         sync.WaitGroup
}

// New starts a proxy on 127.0.0.1 (a free port) to the PostgreSQL server at
// target (host:port). Close it when done.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// DroppedCommits is the number of COMMIT replies dropped so far.
func (p *Proxy) DroppedCommits() int64 { return p.dropped.Load() }

// Close stops accepting, resets every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

// DropNextCommitReply arms the proxy: the next COMMIT a client sends on any
// connection, of a transaction not begun READ ONLY (a read's commit has
// nothing to lose), is forwarded, and as soon as the server starts to answer, both
// sides of that connection are closed without forwarding the answer. The
// server has then finished the commit (its answer proves it) and the client
// does not know. The returned channel is closed when that has happened.
// Arming again before then returns the same channel.
func (p *Proxy) DropNextCommitReply() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropCommit == nil {
		p.dropCommit = make(chan struct{})
	}
	return p.dropCommit
}

// ResetNextQuery arms the proxy: the next complete query (a simple Query
// or the Sync ending an extended-protocol batch) is forwarded and then both
// sides of its connection are reset (TCP RST), while the server may still
// be working on it. The returned channel is closed when that has happened.
func (p *Proxy) ResetNextQuery() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resetQuery == nil {
		p.resetQuery = make(chan struct{})
	}
	return p.resetQuery
}

// ResetNextQueryMatching is ResetNextQuery for the next query whose SQL
// text contains substr: a simple Query, or an extended-protocol batch that
// parses or binds (executes a prepared statement of) such a query. Clients
// that cache prepared statements (pgx) send the text only once per
// connection; the proxy remembers each connection's statements, so a later
// execution matches too. Arming again before it happened returns the same
// channel (and keeps the first substr).
func (p *Proxy) ResetNextQueryMatching(substr string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resetMatch == nil {
		p.resetMatch = make(chan struct{})
		p.matchText = substr
	}
	return p.resetMatch
}

// matches reports whether a query's text matches the armed
// ResetNextQueryMatching.
func (p *Proxy) matches(text string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resetMatch != nil && strings.Contains(text, p.matchText)
}

// ResetAll resets (TCP RST) both sides of every open connection now. New
// connections are accepted as before.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.reset()
	}
}

// Stall stops forwarding: bytes already read are held, in both directions
// and on new connections too, until Resume or Cut.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
}

// Resume ends a stall; the held bytes are forwarded.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// Cut ends a stall by resetting every open connection instead of
// forwarding what was held. Without a stall it is ResetAll.
func (p *Proxy) Cut() {
	p.ResetAll()
	p.Resume()
}

// wait blocks while the proxy is stalled, and reports whether c is still
// open afterwards.
func (p *Proxy) wait(c *conn) bool {
	p.mu.Lock()
	g := p.gate
	p.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-c.done:
		}
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// take disarms *armed and returns its channel, or nil when it was not
// armed.
func (p *Proxy) take(armed *chan struct{}) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := *armed
	*armed = nil
	return ch
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &conn{client: client, server: server, done: make(chan struct{}), stmts: map[string]string{}}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.reset()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.frontend(c)
		go p.backend(c)
	}
}

// frontend forwards the client's messages to the server, one at a time,
// acting on the armed faults.
func (p *Proxy) frontend(c *conn) {
	defer p.wg.Done()
	defer p.forget(c)
	startup := true
	for {
		m, err := readMessage(c.client, startup)
		if err != nil {
			c.close()
			return
		}
		if !p.wait(c) {
			return
		}
		if startup {
			switch m.startupCode() {
			case codeSSLRequest, codeGSSENCRequest:
				// Refuse: the client goes on in plain text, which the
				// proxy can read.
				if _, err := c.client.Write([]byte{'N'}); err != nil {
					c.close()
					return
				}
				continue
			}
			startup = false
		}
		if m.isBegin() {
			c.readOnly = m.isReadOnlyBegin()
		}
		switch m.typ {
		case 'Q':
			c.matched = p.matches(string(m.queryText()))
		case 'P':
			if name, text, ok := m.parse(); ok {
				c.stmts[name] = text
				c.matched = c.matched || p.matches(text)
			}
		case 'B':
			if name, ok := m.bindStatement(); ok {
				c.matched = c.matched || p.matches(c.stmts[name])
			}
		}
		var dropped, cut chan struct{}
		if m.isCommit() && !c.readOnly {
			if dropped = p.take(&p.dropCommit); dropped != nil {
				c.dropReply(dropped, &p.dropped)
			}
		}
		if dropped == nil && m.endsQuery() {
			if c.matched {
				cut = p.take(&p.resetMatch)
			}
			if cut == nil {
				cut = p.take(&p.resetQuery)
			}
			c.matched = false
		}
		if _, err := c.server.Write(m.raw); err != nil {
			c.close()
			return
		}
		if cut != nil {
			c.reset()
			close(cut)
			return
		}
	}
}

// backend copies the server's bytes to the client, unless a dropped COMMIT
// reply is due.
func (p *Proxy) backend(c *conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			if c.takeDrop() {
				return
			}
			if !p.wait(c) {
				return
			}
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				c.close()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.reset()
			}
			c.close()
			return
		}
	}
}

func (p *Proxy) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// conn is one proxied connection.
type conn struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
	// Frontend goroutine only:
	readOnly bool              // the current transaction began READ ONLY
	stmts    map[string]string // prepared statement name -> query text
	matched  bool              // the query being sent matches ResetNextQueryMatching

	mu      sync.Mutex
	drop    chan struct{} // set when the next server bytes are a COMMIT reply to drop
	counter *atomic.Int64
}

// dropReply makes the backend side drop the next bytes from the server and
// close the connection, then close ch.
func (c *conn) dropReply(ch chan struct{}, counter *atomic.Int64) {
	c.mu.Lock()
	c.drop, c.counter = ch, counter
	c.mu.Unlock()
}

// takeDrop closes the connection if a COMMIT reply is due to be dropped
// and reports whether it did.
func (c *conn) takeDrop() bool {
	c.mu.Lock()
	ch, counter := c.drop, c.counter
	c.drop = nil
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	c.close()
	counter.Add(1)
	close(ch)
	return true
}

// close closes both sides (FIN).
func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.server.Close()
	})
}

// reset closes both sides with a TCP RST.
func (c *conn) reset() {
	for _, nc := range []net.Conn{c.client, c.server} {
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	c.close()
}
