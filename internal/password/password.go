// Package password hashes and verifies sign-in passwords with argon2id
// (RFC 9106) and checks new passwords against the password policy.
//
// Hashes are stored in the PHC string format
//
//	$argon2id$v=19$m=65536,t=2,p=1$<salt>$<key>
//
// with unpadded standard base64, the format of the reference implementation,
// so they can be checked with other tools. Each hash carries its own cost
// parameters: Verify uses them, and reports needsRehash when they differ from
// the Hasher's, so costs can be raised without a flag day.
//
// argon2id is slow and memory-hungry on purpose. A Hasher therefore bounds the
// number of hashes computed at once; callers wait for a slot and give up when
// their context is done, which keeps a burst of sign-ins from exhausting
// memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"

	"github.com/confidanthealth/confidant"
)

// Params are the argon2id cost parameters of new hashes.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32 // passes over memory (argon2 "t")
	Parallelism uint8  // lanes (argon2 "p")
	SaltLen     uint32 // bytes of random salt
	KeyLen      uint32 // bytes of derived key stored in the hash
}

// DefaultParams are the parameters for production: 64 MiB, 2 passes, 1 lane,
// 16-byte salt, 32-byte key.
//
// The OWASP Password Storage Cheat Sheet gives m=19456 (19 MiB), t=2, p=1 as
// the minimum for argon2id; these parameters spend about three times as much
// memory (RFC 9106's second recommended option is 64 MiB as well). A hash
// takes about 140 ms of one core on the 2-core EPYC development machine
// (BenchmarkHashDefault), and peak memory stays at MaxConcurrent × 64 MiB.
// p=1 keeps a hash on one core, so concurrent sign-ins do not compete for
// lanes.
var DefaultParams = Params{Memory: 64 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// TestParams are deliberately cheap parameters for tests and synthetic data
// (64 KiB, 1 pass): a hash takes microseconds. They must never be used for real
// accounts. Hashes made with them verify with any Hasher, which then reports
// needsRehash.
var TestParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Validate reports whether p can be used for new hashes: within the limits
// the decoder accepts, with at least a 16-byte salt.
func (p Params) Validate() error {
	switch {
	case p.Parallelism < 1:
		return fmt.Errorf("password: parallelism must be at least 1")
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("password: iterations must be between 1 and %d", maxIterations)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("password: memory must be between 8×parallelism and %d KiB", maxMemoryKiB)
	case p.SaltLen < 16 || p.SaltLen > maxSaltLen:
		return fmt.Errorf("password: salt length must be between 16 and %d bytes", maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("password: key length must be between %d and %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// Config configures a Hasher. The zero Config is valid and means DefaultParams
// with one concurrent hash per available CPU.
type Config struct {
	Params Params // zero: DefaultParams
	// MaxConcurrent bounds how many hashes are computed at once; peak memory
	// is about MaxConcurrent × Params.Memory. Zero: runtime.GOMAXPROCS(0),
	// which follows the container's CPU limit.
	MaxConcurrent int
}

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string // a well-formed hash no password matches, for DummyVerify
}

// New returns a Hasher for cfg.
func New(cfg Config) (*Hasher, error) {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("password: MaxConcurrent must not be negative")
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: cfg.Params, sem: make(chan struct{}, cfg.MaxConcurrent)}
	// The dummy hash has the Hasher's parameters and random salt and key, so
	// verifying against it costs exactly what a real verification costs, but
	// no computation is needed to make it.
	h.dummy = phc{
		memory:      h.params.Memory,
		iterations:  h.params.Iterations,
		parallelism: h.params.Parallelism,
		salt:        random(h.params.SaltLen),
		key:         random(h.params.KeyLen),
	}.encode()
	return h, nil
}

// NewTestHasher returns a Hasher with TestParams, for tests and synthetic data
// only.
func NewTestHasher() *Hasher {
	h, err := New(Config{Params: TestParams, MaxConcurrent: 4})
	if err != nil {
		panic(err) // TestParams are valid
	}
	return h
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-encoded argon2id hash of password with a fresh random
// salt. It waits for a free slot and fails with an error of KindUnavailable
// when ctx is done first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	salt := random(p.SaltLen)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
	return phc{memory: p.Memory, iterations: p.Iterations, parallelism: p.Parallelism, salt: salt, key: key}.encode(), nil
}

// Verify reports whether password matches encoded, a hash made by Hash (with
// any parameters). The comparison takes constant time. needsRehash is true
// when the password matched but the hash was made with parameters other than
// the Hasher's; the caller should then store a fresh Hash.
//
// A malformed encoded string, or one whose parameters exceed the decoder's
// limits (1 GiB, 100 passes, 255 lanes), is an error, never a panic. Like
// Hash, Verify fails with KindUnavailable when ctx is done while it waits.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := decode(encoded)
	if err != nil {
		return false, false, fmt.Errorf("password: verify: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), stored.salt, stored.iterations, stored.memory, stored.parallelism, uint32(len(stored.key)))
	if subtle.ConstantTimeCompare(key, stored.key) != 1 {
		return false, false, nil
	}
	return true, stored.params() != h.params, nil
}

// DummyVerify spends the time and memory of a Verify against a hash with the
// Hasher's parameters, and always fails. Call it when the username is
// unknown, so that the response time does not tell whether an account
// exists. It returns an error only when ctx is done while waiting.
func (h *Hasher) DummyVerify(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

func (h *Hasher) acquire(ctx context.Context) error {
	// Check first: select picks at random when both cases are ready.
	if err := ctx.Err(); err != nil {
		return busy(err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return busy(ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

func busy(cause error) error {
	return confidant.Wrap(cause, confidant.KindUnavailable, "password_busy", "The server is busy. Please try again.")
}

func random(n uint32) []byte {
	b := make([]byte, n)
	rand.Read(b) // never returns an error
	return b
}
