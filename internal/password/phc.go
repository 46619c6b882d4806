package password

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Limits on what the decoder accepts. A stored hash names its own cost
// parameters, so without limits a corrupted or planted row could make one
// sign-in attempt allocate gigabytes or run for minutes.
const (
	maxMemoryKiB   = 1 << 20 // 1 GiB
	maxIterations  = 100
	maxParallelism = 255
	minSaltLen     = 8 // the PHC reference vectors use an 8-byte salt
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	maxEncodedLen  = 256 // well above the longest acceptable string
)

var b64 = base64.RawStdEncoding.Strict()

// errMalformed is returned for any string the decoder rejects. It never
// contains the input.
var errMalformed = errors.New("malformed argon2id hash")

// phc is a decoded "$argon2id$v=19$m=..,t=..,p=..$salt$key" string.
type phc struct {
	memory      uint32 // KiB
	iterations  uint32
	parallelism uint8
	salt        []byte
	key         []byte
}

// params returns the cost parameters of the hash, with the salt and key
// lengths it was made with.
func (h phc) params() Params {
	return Params{
		Memory:      h.memory,
		Iterations:  h.iterations,
		Parallelism: h.parallelism,
		SaltLen:     uint32(len(h.salt)),
		KeyLen:      uint32(len(h.key)),
	}
}

// encode returns the canonical PHC string form.
func (h phc) encode() string {
	var b strings.Builder
	b.Grow(64 + b64.EncodedLen(len(h.salt)) + b64.EncodedLen(len(h.key)))
	b.WriteString("$argon2id$v=")
	b.WriteString(strconv.Itoa(argon2.Version))
	b.WriteString("$m=")
	b.WriteString(strconv.FormatUint(uint64(h.memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(h.iterations), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(h.parallelism), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.key))
	return b.String()
}

// decode parses a PHC-encoded argon2id hash. It accepts only the canonical
// form that encode produces (version 19, parameters in the order m,t,p,
// decimal without leading zeros, unpadded standard base64) and only
// parameters within the limits above, so every accepted string re-encodes
// byte for byte. It never panics.
func decode(s string) (phc, error) {
	if len(s) > maxEncodedLen {
		return phc{}, errMalformed
	}
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return phc{}, errMalformed
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return phc{}, errMalformed
	}
	m, ok1 := field(kv[0], "m=")
	t, ok2 := field(kv[1], "t=")
	p, ok3 := field(kv[2], "p=")
	if !ok1 || !ok2 || !ok3 {
		return phc{}, errMalformed
	}
	if p < 1 || p > maxParallelism || t < 1 || t > maxIterations || m < 8*p || m > maxMemoryKiB {
		return phc{}, errMalformed
	}
	salt, ok := unb64(parts[4], minSaltLen, maxSaltLen)
	if !ok {
		return phc{}, errMalformed
	}
	key, ok := unb64(parts[5], minKeyLen, maxKeyLen)
	if !ok {
		return phc{}, errMalformed
	}
	h := phc{memory: uint32(m), iterations: uint32(t), parallelism: uint8(p), salt: salt, key: key}
	// The checks above should already ensure this; keep it as the last word
	// so that a non-canonical spelling can never be accepted.
	if h.encode() != s {
		return phc{}, errMalformed
	}
	return h, nil
}

// field parses "name=<decimal>" with no sign, no leading zeros and a value
// that fits in 32 bits.
func field(s, name string) (uint64, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || len(v) > 10 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return n, err == nil
}

// unb64 decodes unpadded standard base64 into between min and max bytes.
// Unlike the encoding package it rejects embedded line breaks.
func unb64(s string, min, max int) ([]byte, bool) {
	if len(s) < b64.EncodedLen(min) || len(s) > b64.EncodedLen(max) || strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < min || len(b) > max {
		return nil, false
	}
	return b, true
}
