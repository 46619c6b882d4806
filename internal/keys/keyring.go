package keys

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Error codes of this package, in addition to those of the providers
// ("kek_missing", "kek_wrong_passphrase", "kek_unavailable", "kek_invalid",
// "kek_exists", "kek_insecure_mode").
const (
	CodeKeyIntegrity    = "key_integrity"     // KindInternal: a wrapped key failed authentication
	CodeKeyringClosed   = "keyring_closed"    // KindUnavailable
	CodeIndexKeyMissing = "index_key_missing" // KindInternal: BlindIndex before LoadIndexKey
	CodeInvalidKey      = "invalid_key"       // KindInvalid: a malformed argument
	codeUnavailable     = "kek_unavailable"
)

// kek is a key-encryption key provider. KEK ids are "<provider>:<key>".
// The AEADs it returns are safe for concurrent use; their errors are
// *confidant.Error of KindUnavailable when the provider (HSM, token) fails,
// anything else when the ciphertext does not authenticate.
type kek interface {
	// PrimaryID names the key new wraps use.
	PrimaryID() string
	// AEAD returns the key named id, or a KindUnavailable error if the
	// provider does not hold it.
	AEAD(id string) (tink.AEAD, error)
	Close() error
}

// Keyring holds the KEK (or a handle to it in an HSM), the cache of
// unwrapped patient keysets and the blind-index key. It is safe for
// concurrent use. It never prints key material: String, GoString and
// LogValue name the KEK id only.
type Keyring struct {
	kek   kek
	now   func() time.Time
	cache *cache

	mu       sync.RWMutex // read-held by every operation; Close takes it
	closed   bool
	indexKey []byte
	derived  sync.Map // "table|field" -> derived index key ([]byte)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	onUnwrap atomic.Pointer[func(owner, kekID string) error]
}

// OnUnwrap sets a function called after every unwrap of a keyset by the KEK
// (a cache miss), with the keyset's owner (a patient id, or a system key's
// name) and the KEK key used, before the keyset is used or cached. The
// access log uses it to record key use. It is called synchronously,
// possibly inside a database transaction, so it must not block. If it
// returns an error, the unwrap fails with that error and nothing is cached:
// a key whose use cannot be recorded is not used.
func (k *Keyring) OnUnwrap(f func(owner, kekID string) error) {
	k.onUnwrap.Store(&f)
}

// Open opens the KEK provider of cfg and returns a Keyring over it.
//
// Errors are *confidant.Error of KindInvalid for a bad cfg and of
// KindUnavailable otherwise, with code "kek_missing" (no key file),
// "kek_wrong_passphrase", "kek_invalid" (a damaged key file, or an HSM key
// that is extractable), "kek_insecure_mode" (a key file readable by group or
// others) or "kek_unavailable" (the module, token, PIN or key label of an
// HSM; a binary built without PKCS#11 support). Messages name paths and
// labels, never secrets.
func Open(cfg Config) (*Keyring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var (
		p   kek
		err error
	)
	switch cfg.Provider {
	case ProviderFile:
		p, err = openFileKEK(cfg.File, cfg.Passphrase)
	case ProviderPKCS11:
		p, err = openPKCS11(cfg.PKCS11)
	}
	if err != nil {
		return nil, err
	}
	return newKeyring(p, cfg.CacheSize, cfg.CacheTTL, time.Now), nil
}

func newKeyring(p kek, size int, ttl time.Duration, now func() time.Time) *Keyring {
	k := &Keyring{
		kek:   p,
		now:   now,
		cache: newCache(size, ttl, now),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go k.janitor(min(max(ttl/2, time.Second), time.Minute))
	return k
}

// janitor drops expired cache entries, so that unwrapped keysets of
// patients nobody asks for again do not stay referenced until evicted.
func (k *Keyring) janitor(every time.Duration) {
	defer close(k.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			k.cache.purgeExpired()
		}
	}
}

// Close drops the cache and the index key and closes the provider (for
// PKCS#11: its sessions). It waits for operations in progress. Later calls
// fail with KindUnavailable "keyring_closed". Close is idempotent.
func (k *Keyring) Close() error {
	k.closeOnce.Do(func() {
		close(k.stop)
		<-k.done
		k.mu.Lock()
		defer k.mu.Unlock()
		k.closed = true
		k.cache.purge()
		clear(k.indexKey)
		k.indexKey = nil
		k.derived.Range(func(key, v any) bool {
			clear(v.([]byte))
			k.derived.Delete(key)
			return true
		})
		k.closeErr = k.kek.Close()
	})
	return k.closeErr
}

// begin read-locks k for one operation.
func (k *Keyring) begin() error {
	k.mu.RLock()
	if k.closed {
		k.mu.RUnlock()
		return confidant.Errorf(confidant.KindUnavailable, CodeKeyringClosed, "The keyring is closed.")
	}
	return nil
}

func (k *Keyring) end() { k.mu.RUnlock() }

// KEKID names the KEK key that new wraps use: "file:<tink key id>" or
// "pkcs11:<label>".
func (k *Keyring) KEKID() string { return k.kek.PrimaryID() }

// String describes k without key material.
func (k *Keyring) String() string {
	if k == nil {
		return "keys.Keyring(nil)"
	}
	return fmt.Sprintf("keys.Keyring{KEK:%s keys:[REDACTED]}", k.KEKID())
}

// GoString is String, so that %#v prints no key material either.
func (k *Keyring) GoString() string { return k.String() }

// LogValue implements slog.LogValuer: the KEK id, never key material.
func (k *Keyring) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("keys.Keyring(nil)")
	}
	return slog.GroupValue(slog.String("kek", k.KEKID()), slog.String("keys", "[REDACTED]"))
}

// recorder remembers the error of the last Encrypt or Decrypt, which Tink's
// keyset reader and writer flatten into strings.
type recorder struct {
	tink.AEAD
	err error
}

func (r *recorder) Encrypt(pt, ad []byte) ([]byte, error) {
	ct, err := r.AEAD.Encrypt(pt, ad)
	r.err = err
	return ct, err
}

func (r *recorder) Decrypt(ct, ad []byte) ([]byte, error) {
	pt, err := r.AEAD.Decrypt(ct, ad)
	r.err = err
	return pt, err
}

// providerFailed reports whether err says the KEK provider is unavailable
// (as opposed to a ciphertext that does not authenticate).
func providerFailed(err error) bool {
	return err != nil && confidant.IsKind(err, confidant.KindUnavailable)
}

// integrity returns the error for a wrapped key that fails authentication:
// tampered, moved to another owner, or wrapped by another KEK with the same
// id. The owner is an opaque id or a system key name, never patient data.
func integrity(what string, cause error) error {
	return confidant.Wrap(cause, confidant.KindInternal, CodeKeyIntegrity,
		fmt.Sprintf("The wrapped %s does not authenticate (tampered with, or moved to another owner).", what))
}

// wrapFailure classifies an error of wrapping under the primary KEK key.
func wrapFailure(err error) error {
	var ce *confidant.Error
	if errors.As(err, &ce) {
		return err
	}
	return confidant.Wrap(err, confidant.KindInternal, "key_wrap", "A key could not be wrapped.")
}

func invalidArg(format string, args ...any) error {
	return confidant.Errorf(confidant.KindInvalid, CodeInvalidKey, format, args...)
}

// stamp is the UpdatedAt of a new wrapped key: UTC, microseconds, as the
// stores keep it.
func (k *Keyring) stamp() time.Time { return k.now().UTC().Truncate(time.Microsecond) }
