package password

import (
	"unicode/utf8"

	"github.com/confidanthealth/confidant"
)

// Policy limits, following NIST SP 800-63B and the OWASP Authentication
// Cheat Sheet: length matters, composition rules do not.
const (
	MinLength = 12   // characters (Unicode code points)
	MaxBytes  = 1024 // bytes of UTF-8; long enough for any passphrase, short enough to bound work
)

// CheckPolicy reports whether pw may be set as a new password: valid UTF-8, at
// least MinLength characters and at most MaxBytes bytes. Any space and any
// character is allowed. It returns an *confidant.Error of KindInvalid with
// code "weak_password" whose message says what is wrong, never the password.
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
		return weak("The password is too short: use at least 12 characters. A few unrelated words make a good one.")
	}
	return nil
}
