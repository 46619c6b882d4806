package service

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// A discoverable passkey sign-in begins without an account, so anyone can
// begin one; each writes a ceremony row and an access-log event. The
// begins of one client address are limited to a burst of PasskeyBeginBurst,
// then one per PasskeyBeginEvery (a token bucket per address, in this
// process's memory, for the most recent passkeyBeginClients addresses).
// A refused begin writes nothing and is answered 429 with Retry-After: the
// limit exists so that one address cannot grow the database and the log.
// A person signing in begins one ceremony per try.
const (
	PasskeyBeginBurst   = 20
	PasskeyBeginEvery   = 3 * time.Second
	passkeyBeginClients = 10000
)

// beginLimit holds the token buckets of the clients that began
// discoverable sign-ins.
type beginLimit struct {
	mu      sync.Mutex
	clients *simplelru.LRU[string, *rate.Limiter]
}

func newBeginLimit() *beginLimit {
	clients, err := simplelru.NewLRU[string, *rate.Limiter](passkeyBeginClients, nil)
	if err != nil { // only for a size below 1
		panic(err)
	}
	return &beginLimit{clients: clients}
}

// wait takes a begin from client's bucket at now: 0 when it may begin, or
// how long until it may (nothing is taken then).
func (b *beginLimit) wait(client string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.clients.Get(client)
	if !ok {
		l = rate.NewLimiter(rate.Every(PasskeyBeginEvery), PasskeyBeginBurst)
		b.clients.Add(client, l)
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
