package keys

import (
	"fmt"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Providers of the key-encryption key.
const (
	ProviderFile   = "file"
	ProviderPKCS11 = "pkcs11"
)

// Defaults of Config.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 5 * time.Minute
)

// Config selects and configures the KEK provider and the cache of unwrapped
// patient keysets. It holds secrets (Passphrase, PKCS11.PIN): never print
// it; String, GoString and LogValue redact them.
type Config struct {
	Provider   string        // "file" (default) or "pkcs11"
	File       string        // file provider: path of the KEK keyset file
	Passphrase []byte        // file provider: optional; nil means the file is not passphrase-protected
	PKCS11     PKCS11Config  // pkcs11 provider
	CacheSize  int           // unwrapped patient keysets kept in memory; default 10000
	CacheTTL   time.Duration // default 5 minutes
}

// PKCS11Config locates the KEK in a PKCS#11 token. KeyLabel is the label
// (CKA_LABEL) of the primary AES key, the one new wraps use; keys wrapped
// under other labels of the same token still unwrap.
type PKCS11Config struct {
	Module, TokenLabel, PIN, KeyLabel string
}

func invalidConfig(format string, args ...any) error {
	return confidant.Errorf(confidant.KindInvalid, "invalid_key_config", format, args...)
}

// Validate reports the first problem of c as a KindInvalid error.
func (c Config) Validate() error {
	switch c.Provider {
	case "", ProviderFile:
		if c.File == "" {
			return invalidConfig("The file KEK provider needs the path of the key file.")
		}
		if c.Passphrase != nil && len(c.Passphrase) == 0 {
			return invalidConfig("The KEK passphrase is empty; give none (nil) for a file without passphrase.")
		}
	case ProviderPKCS11:
		if c.Passphrase != nil {
			return invalidConfig("A KEK passphrase applies only to the file provider.")
		}
		if err := c.PKCS11.validate(); err != nil {
			return err
		}
	default:
		return invalidConfig("Unknown KEK provider %q (want %q or %q).", c.Provider, ProviderFile, ProviderPKCS11)
	}
	if c.CacheSize < 0 {
		return invalidConfig("The key cache size must not be negative.")
	}
	if c.CacheTTL < 0 {
		return invalidConfig("The key cache TTL must not be negative.")
	}
	return nil
}

func (c PKCS11Config) validate() error {
	switch {
	case c.Module == "":
		return invalidConfig("The PKCS#11 provider needs the path of the PKCS#11 module.")
	case c.TokenLabel == "":
		return invalidConfig("The PKCS#11 provider needs the token label.")
	case c.PIN == "":
		return invalidConfig("The PKCS#11 provider needs the user PIN.")
	case c.KeyLabel == "":
		return invalidConfig("The PKCS#11 provider needs the label of the KEK.")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Provider == "" {
		c.Provider = ProviderFile
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	return c
}

// String describes c without its secrets.
func (c Config) String() string {
	pass := "none"
	if c.Passphrase != nil {
		pass = "[REDACTED]"
	}
	return fmt.Sprintf("keys.Config{Provider:%q File:%q Passphrase:%s PKCS11:%v CacheSize:%d CacheTTL:%v}",
		c.Provider, c.File, pass, c.PKCS11, c.CacheSize, c.CacheTTL)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// String describes c without the PIN.
func (c PKCS11Config) String() string {
	return fmt.Sprintf("{Module:%q TokenLabel:%q PIN:[REDACTED] KeyLabel:%q}", c.Module, c.TokenLabel, c.KeyLabel)
}

// GoString is String, so that %#v does not print the PIN either.
func (c PKCS11Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the secrets (slog's JSON
// handler would otherwise print Passphrase in base64).
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// LogValue implements slog.LogValuer without the PIN.
func (c PKCS11Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
