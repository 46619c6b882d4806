package web

import (
	"strings"
	"testing"
)

// TestSSOFailureKind: what the provider sent never reaches the log; only
// a word from a fixed vocabulary does.
func TestSSOFailureKind(t *testing.T) {
	vocabulary := map[string]bool{"nonce": true, "state": true, "pkce": true, "verifier": true, "signature": true,
		"expired": true, "issuer": true, "audience": true, "token": true, "code": true, "denied": true, "other": true}
	for desc, want := range map[string]string{
		"no nonce cookie": "nonce",
		"failed to get state: http: named cookie not present":   "state",
		"access_denied: user maija.virtanen@example.fi refused": "denied",
		"Maija Virtanen 010203A123B":                            "other",
		"":                                                      "other",
	} {
		got := ssoFailureKind(desc)
		if got != want || !vocabulary[got] {
			t.Errorf("%q: %q, want %q", desc, got, want)
		}
		if strings.Contains(desc, "@") && strings.Contains(got, "@") {
			t.Errorf("%q: the provider's text reached the log", desc)
		}
	}
}
