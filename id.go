package confidant

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a fresh opaque identifier: 128 random bits, lower-case
// base32 (26 characters). Ids carry no meaning and are safe to log and to put
// in URLs.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an id made by NewID. Transports
// use it to reject garbage before it reaches a store.
func ValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}
