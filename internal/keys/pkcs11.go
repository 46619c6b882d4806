//go:build pkcs11

package keys

import (
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys/internal/hsm"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// PKCS11Supported reports whether this binary was built with PKCS#11
// support (build tag pkcs11).
const PKCS11Supported = true

const pkcs11Prefix = "pkcs11:"

// pkcs11KEK is the PKCS#11 provider: KEK ids are "pkcs11:<label>", and
// each label names an AES key in the same token.
type pkcs11KEK struct {
	token   *hsm.Token
	primary string // label
}

func openPKCS11(c PKCS11Config) (kek, error) {
	t, err := hsm.Open(c.Module, c.TokenLabel, c.PIN)
	if err != nil {
		return nil, err
	}
	if err := t.CheckKey(c.KeyLabel); err != nil {
		t.Close()
		return nil, err
	}
	return &pkcs11KEK{token: t, primary: c.KeyLabel}, nil
}

func (p *pkcs11KEK) PrimaryID() string { return pkcs11Prefix + p.primary }

func (p *pkcs11KEK) AEAD(id string) (tink.AEAD, error) {
	label, ok := strings.CutPrefix(id, pkcs11Prefix)
	if !ok || label == "" {
		return nil, confidant.Errorf(confidant.KindUnavailable, codeUnavailable,
			"The key was wrapped by KEK %.80q, which is not a key of the PKCS#11 KEK provider.", id)
	}
	return p.token.AEAD(label), nil
}

func (p *pkcs11KEK) Close() error { return p.token.Close() }

// CreatePKCS11Key generates the KEK in the token of cfg: a persistent
// AES-256 key labelled cfg.KeyLabel, sensitive and not extractable
// (CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_TOKEN true), allowed to
// encrypt and decrypt only. An existing key with that label is KindConflict
// "kek_exists". For KEK rotation create a key with a new label, point
// KeyLabel at it and re-wrap; keys wrapped under the old label still unwrap
// while it stays in the token.
func CreatePKCS11Key(cfg PKCS11Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	t, err := hsm.Open(cfg.Module, cfg.TokenLabel, cfg.PIN)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.GenerateKey(cfg.KeyLabel); err != nil {
		return err
	}
	return t.CheckKey(cfg.KeyLabel)
}
