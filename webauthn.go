package confidant

import (
	"context"
	"log/slog"
	"time"
)

// WebAuthn (passkey) second factors and recovery codes. They hold no
// patient data. A user's WebAuthn user handle is random (no personal data,
// RFC: W3C WebAuthn §14.6.1); credentials are stored with their public key
// and user-given name sealed by internal/seal (bound to the user and the
// credential, so that a key written into the database by someone without
// the keys does not open an account); ceremony state lives in the database
// (several servers share it) and is used once.

// WebAuthnCredential is a registered passkey as the service sees it.
type WebAuthnCredential struct {
	ID                string // Confidant's id of the credential (for listing and removal)
	UserID            string
	CredentialID      []byte // the authenticator's credential id
	PublicKey         []byte // COSE_Key
	AttestationType   string
	AttestationFormat string
	AAGUID            []byte
	Transports        []string
	UserPresent       bool
	UserVerified      bool // uvInitialized of the credential record
	BackupEligible    bool
	BackupState       bool
	SignCount         uint32
	Name              string // given by the user ("Work laptop")
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero: never used to sign in
}

// LogValue keeps credentials out of logs but their id.
func (c WebAuthnCredential) LogValue() slog.Value { return slog.StringValue(c.ID) }

// SealedWebAuthnCredential is a credential row: ids, flags, counter and
// times in the clear, the rest sealed in Data (associated data
// "webauthn/v1|<user id>|<id>|<credential id>").
type SealedWebAuthnCredential struct {
	ID             string
	UserID         string
	CredentialID   []byte
	UserVerified   bool
	BackupEligible bool
	BackupState    bool
	SignCount      uint32
	CreatedAt      time.Time
	LastUsedAt     time.Time
	Data           []byte
}

// WebAuthnCeremony is the server side state of a WebAuthn ceremony between
// its begin and finish (the library's session data, as JSON in Data), or
// the record that a step-up ceremony was completed. It is used once.
type WebAuthnCeremony struct {
	ID        string
	Kind      string // the service's kind of ceremony
	UserID    string // "" for a discoverable sign-in
	SessionID string // the pending sign-in or the signed-in session it belongs to
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RecoveryCode is one of a user's single-use recovery codes: its number
// (0 to 9) and its argon2id hash (internal/password's PHC string).
type RecoveryCode struct {
	UserID    string
	N         int
	Hash      string
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
}

// LogValue keeps hashes out of logs.
func (c RecoveryCode) LogValue() slog.Value { return slog.IntValue(c.N) }

// Used reports whether the code was used.
func (c RecoveryCode) Used() bool { return !c.UsedAt.IsZero() }

// WebAuthnTx are the operations on passkeys, ceremonies and recovery codes
// that Tx and SealedTx share (nothing in them is sealed).
type WebAuthnTx interface {
	// WebAuthnHandle returns the user's WebAuthn user handle; KindNotFound
	// when the user has none yet.
	WebAuthnHandle(ctx context.Context, userID string) ([]byte, error)
	// CreateWebAuthnHandle stores a user's handle: KindConflict if the user
	// has one already (or the handle is taken), KindNotFound for an
	// unknown user.
	CreateWebAuthnHandle(ctx context.Context, userID string, handle []byte, at time.Time) error
	// UserByWebAuthnHandle returns the id of the user with this handle;
	// KindNotFound for none.
	UserByWebAuthnHandle(ctx context.Context, handle []byte) (string, error)
	// UseWebAuthnCredential records a sign-in with credential id of
	// userID: its new signature counter, backup state and time.
	// KindNotFound if the user has no such credential (removed meanwhile).
	UseWebAuthnCredential(ctx context.Context, userID, id string, signCount uint32, backupState bool, at time.Time) error
	// DeleteWebAuthnCredential removes one credential of userID;
	// KindNotFound if the user has no such credential.
	DeleteWebAuthnCredential(ctx context.Context, userID, id string) error
	// DeleteWebAuthnCredentials removes every credential of userID (a
	// forced reset); no error when there are none.
	DeleteWebAuthnCredentials(ctx context.Context, userID string) error

	// PutWebAuthnCeremony stores a ceremony, replacing one with the same id.
	PutWebAuthnCeremony(ctx context.Context, c WebAuthnCeremony) error
	// WebAuthnCeremony returns a ceremony; KindNotFound for none (expired
	// ones are returned until deleted: the caller checks ExpiresAt).
	WebAuthnCeremony(ctx context.Context, id string) (WebAuthnCeremony, error)
	// DeleteWebAuthnCeremony uses a ceremony up, in one conditional delete:
	// KindConflict "ceremony_used" if it does not exist (any more), so that
	// two concurrent finishes cannot both succeed.
	DeleteWebAuthnCeremony(ctx context.Context, id string) error
	// DeleteExpiredWebAuthnCeremonies deletes the ceremonies that expired
	// before now and returns how many there were.
	DeleteExpiredWebAuthnCeremonies(ctx context.Context, now time.Time) (int, error)

	// RecoveryCodes returns the user's recovery codes by number (none: an
	// empty list).
	RecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error)
	// SetRecoveryCodes replaces the user's recovery codes by hashes
	// (numbered from 0; none: the user has no codes any more).
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error
	// UseRecoveryCode marks code n of userID used at `at`, in one
	// conditional update: KindConflict "recovery_code_used" unless it
	// exists and is unused, so that two concurrent uses cannot both
	// succeed.
	UseRecoveryCode(ctx context.Context, userID string, n int, at time.Time) error
}
