// Package keys is the only package of Confidant that ever holds a
// key-encryption key (KEK) or unwrapped key material. Everything else sees
// wrapped keys (confidant.WrappedKey, ciphertext stored in the database)
// and, for a patient whose records it is allowed to touch, a tink.AEAD.
//
// # What is held where
//
//   - The KEK lives in its provider. With the "file" provider it is a Tink
//     keyset of AES-256-GCM keys in a key file kept outside the database
//     directory (mode 0600, optionally encrypted under an argon2id
//     passphrase; format in internal/keys/internal/filekek); Open reads it
//     into memory once. With the "pkcs11" provider (build tag pkcs11) it is
//     an AES-256 key generated inside a PKCS#11 token as sensitive and
//     non-extractable; wrapping and unwrapping are AES-GCM operations
//     inside the token, and the key value never enters this process.
//   - Patient keysets (Tink AES-256-GCM, TINK prefix) are stored in the
//     database wrapped by the KEK with associated data
//     "patient-key/v1|"+patient id, so a wrapped keyset moved to another
//     patient does not unwrap (KindInternal "key_integrity"). WrappedKey.KEKID
//     names the KEK key that wrapped it: "file:<Tink key id>" or
//     "pkcs11:<label>"; a KEK rotation adds a key, makes it primary and
//     re-wraps (RewrapPatientKey), and records are never re-encrypted for it.
//   - System keys (the blind-index key, later others) are random 256-bit
//     secrets wrapped by the KEK with associated data "system-key/v1|"+name.
//     The blind-index key is unwrapped once (LoadIndexKey) and kept in memory;
//     per (table, field) keys are derived from it with HKDF-SHA256 and the
//     index is a truncated HMAC-SHA256 (BlindIndex). Without the KEK, a
//     stolen database gives no way to test guesses of identity codes against
//     the indexes.
//
// # The cache
//
// Unwrapped patient keysets are kept in a bounded LRU (Config.CacheSize,
// default 10000) keyed by (owner, KEK id, SHA-256 of the wrapped bytes), so
// an entry can only be found by presenting the same wrapped bytes, for the
// same owner and KEK key, that were authenticated when it was unwrapped. An entry expires
// Config.CacheTTL (default 5 minutes) after it was unwrapped, however often
// it is used; a background janitor drops expired entries, and Close drops
// them all. Each miss costs one KEK operation (an HSM round trip with
// PKCS#11).
//
// # Residual risk
//
// Go cannot promise to erase memory: unwrapped keysets and the index key
// live on the Go heap until collected (copies made by the runtime, by Tink
// or by the PKCS#11 library are not wiped). A stolen database or backup
// yields only ciphertext. An attacker who controls the running server can
// use every key the server can use for as long as the compromise lasts:
// unwrap any patient keyset and decrypt. With the file provider they can
// also copy the KEK itself (from the key file or from memory) and decrypt
// stolen data later, offline. With an HSM the KEK cannot be exported, so
// exfiltration is limited to what is unwrapped through the server while it
// is compromised (including keysets in the cache), and it ends when access
// to the HSM is revoked; the audit log records each access that goes
// through the service.
//
// # Errors
//
// Errors are *confidant.Error. KindUnavailable means the KEK provider
// cannot be used (missing or damaged key file, wrong passphrase, HSM,
// token, PIN, or a key named by a KEKID that the provider does not hold);
// KindInternal "key_integrity" means a wrapped key failed authentication.
// No message contains a secret: they name paths, labels and KEK ids.
package keys
