//go:build !pkcs11

package keys

import confidant "github.com/confidanthealth/confidant"

// PKCS11Supported reports whether this binary was built with PKCS#11
// support (build tag pkcs11).
const PKCS11Supported = false

func errNoPKCS11() error {
	return confidant.Errorf(confidant.KindUnavailable, codeUnavailable,
		"this binary was built without PKCS#11 support; build with -tags pkcs11")
}

func openPKCS11(PKCS11Config) (kek, error) { return nil, errNoPKCS11() }

// CreatePKCS11Key generates the KEK in a PKCS#11 token. This binary was
// built without PKCS#11 support, so it always fails; build with -tags
// pkcs11.
func CreatePKCS11Key(cfg PKCS11Config) error { return errNoPKCS11() }
