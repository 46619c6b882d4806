package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/confidanthealth/confidant"
)

// Policy limits, following ASVS 5.0 V6, NIST SP 800-63B and the OWASP
// Authentication Cheat Sheet: length matters, composition rules do not, and
// passwords that attackers try first are refused.
const (
	MinLength         = 8    // characters (Unicode code points)
	RecommendedLength = 15   // characters; forms and errors recommend it
	MaxBytes          = 1024 // bytes of UTF-8; long enough for any passphrase, short enough to bound work
)

// commonFile is the shipped list of common passwords (see its header for
// the source and the licence).
//
//go:embed commonpasswords.txt
var commonFile string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 16384)
	for line := range strings.Lines(commonFile) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[line] = struct{}{}
	}
	return m
})

// CommonPasswords returns how many passwords the shipped list holds.
func CommonPasswords() int { return len(common()) }

// IsCommon reports whether pw is in the shipped list of common passwords,
// ignoring case.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

// CheckPolicy reports whether pw may be set as a new password: valid UTF-8,
// at least MinLength characters (RecommendedLength recommended), at most
// MaxBytes bytes, and not in the shipped list of common passwords
// (compared case-insensitively). Any space and any character is allowed.
// It returns an *confidant.Error of KindInvalid with code "weak_password"
// or "common_password" whose message says what is wrong, never the
// password.
//
// The policy applies to new passwords only; sign-in compares whatever is
// given.
func CheckPolicy(pw string) error {
	weak := func(msg string) error {
		return confidant.Errorf(confidant.KindInvalid, "weak_password", "%s", msg)
	}
	switch {
	case len(pw) > MaxBytes:
		return weak("The password is too long: at most 1024 bytes.")
	case !utf8.ValidString(pw):
		return weak("The password contains characters that are not valid text.")
	case utf8.RuneCountInString(pw) < MinLength:
		return weak("The password is too short: use at least 8 characters; 15 or more are recommended. A few unrelated words make a good one.")
	case IsCommon(pw):
		return confidant.Errorf(confidant.KindInvalid, "common_password",
			"This password is on a list of common passwords that attackers try first. Choose another: 15 or more characters are recommended, for example a few unrelated words.")
	}
	return nil
}
