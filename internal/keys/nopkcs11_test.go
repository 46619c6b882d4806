//go:build !pkcs11

package keys_test

import (
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
)

func TestPKCS11NotBuilt(t *testing.T) {
	cfg := keys.PKCS11Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", PIN: "1234", KeyLabel: "kek"}
	_, err := keys.Open(keys.Config{Provider: "pkcs11", PKCS11: cfg})
	ce := wantError(t, err, confidant.KindUnavailable, "kek_unavailable")
	if !strings.Contains(ce.Message, "built without PKCS#11 support; build with -tags pkcs11") {
		t.Errorf("message %q", ce.Message)
	}
	wantError(t, keys.CreatePKCS11Key(cfg), confidant.KindUnavailable, "kek_unavailable")
}
