package seal

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Sign-in throttling counts failures per client address, which the
// database must not hold in the clear (the access log keeps addresses
// sealed): each address is replaced here by a keyed hash, a blind index
// under the KEK-protected blind-index key. Every server of a database
// derives the same key, so they share the counts; a stolen database
// yields no addresses (and no typed usernames, which are hashed alike).
const (
	throttleTable   = "login_failures"
	fieldClient     = "client"
	fieldUsername   = "username"
	ClientIndexBits = 128 // collisions negligible: two clients never share a count
)

// clientKey is the keyed hash of a client address.
func (t *tx) clientKey(client string) ([]byte, error) {
	return t.s.keys.BlindIndex(throttleTable, fieldClient, client, ClientIndexBits)
}

// throttleAccount maps the account of a throttling call: a user id stays
// as it is; "?" + an unknown username becomes "~" + the keyed hash of the
// username (an id never starts with "~").
func (t *tx) throttleAccount(account string) (string, error) {
	name, unknown := strings.CutPrefix(account, "?")
	if !unknown {
		if !confidant.ValidID(account) {
			return "", confidant.Errorf(confidant.KindInvalid, "invalid_account", "Not an account id.")
		}
		return account, nil
	}
	h, err := t.s.keys.BlindIndex(throttleTable, fieldUsername, name, ClientIndexBits)
	if err != nil {
		return "", err
	}
	return "~" + hex.EncodeToString(h), nil
}

func (t *tx) keys(client, account string) ([]byte, string, error) {
	k, err := t.clientKey(client)
	if err != nil {
		return nil, "", err
	}
	a, err := t.throttleAccount(account)
	return k, a, err
}

// LoginFailures returns the failure counts of one sign-in attempt.
func (t *tx) LoginFailures(ctx context.Context, client, account string) (confidant.LoginFailures, error) {
	k, a, err := t.keys(client, account)
	if err != nil {
		return confidant.LoginFailures{}, err
	}
	return t.SealedTx.LoginFailures(ctx, k, a)
}

// FailLogin counts a failed sign-in.
func (t *tx) FailLogin(ctx context.Context, client, account string, at time.Time) error {
	k, a, err := t.keys(client, account)
	if err != nil {
		return err
	}
	return t.SealedTx.FailLogin(ctx, k, a, at)
}

// ClearLoginFailures forgets one client's failures on one account.
func (t *tx) ClearLoginFailures(ctx context.Context, client, account string) error {
	k, a, err := t.keys(client, account)
	if err != nil {
		return err
	}
	return t.SealedTx.ClearLoginFailures(ctx, k, a)
}
