package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	cmail "github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Accounts by invitation (docs/SECURITY.md, "Separation of duties"): nobody
// sets another person's password. Creating an account creates it without a
// usable password and an invitation: a random 32-byte token, of which only
// the SHA-256 is stored, usable once before Config.InvitationTTL. The
// invitee sets their own password with it (AcceptInvitation); staff then
// enrol their second factor at their first sign-in.

// Mailer delivers messages (internal/mail.Sender implements it).
type Mailer interface {
	Send(ctx context.Context, m cmail.Message) error
}

// WithMailer sets where invitations are mailed. Without one, accounts can
// be created only with a hand-over code.
func WithMailer(m Mailer) Option { return func(s *Service) { s.mailer = m } }

// invitationTokenLen is the number of random bytes in an invitation token.
const invitationTokenLen = 32

// tokenEncoding writes tokens in base32 (A-Z, 2-7): a code read out or typed
// by hand survives case changes and needs no punctuation.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeInvitationToken returns the printable form of a raw token: 52
// upper-case base32 characters.
func EncodeInvitationToken(raw []byte) string { return tokenEncoding.EncodeToString(raw) }

// DecodeInvitationToken parses a token as a person may type it: base32 in
// either case, with spaces or hyphens between groups. Anything else,
// including a token of the wrong length, is KindInvalid "invitation_invalid".
func DecodeInvitationToken(s string) ([]byte, error) {
	if len(s) > 256 {
		return nil, errInvitationInvalid
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	raw, err := tokenEncoding.DecodeString(s)
	if err != nil || len(raw) != invitationTokenLen || tokenEncoding.EncodeToString(raw) != s {
		return nil, errInvitationInvalid
	}
	return raw, nil
}

// errInvitationInvalid answers every token that cannot be used, whatever the
// reason, so that a token reveals nothing; the access log tells the reasons
// apart.
var errInvitationInvalid = confidant.Errorf(confidant.KindInvalid, "invitation_invalid",
	"This invitation is not valid: it may have expired or been used already. Ask for a new one.")

// ErrPasswordNotAccepted refuses a password chosen by someone else (the
// transports answer it too when a request carries a password field).
var ErrPasswordNotAccepted = confidant.Errorf(confidant.KindInvalid, "password_not_accepted",
	"Accounts are created by invitation: the invitee sets their own password. Send no password.")

// Invited is a newly invited account.
type Invited struct {
	User      confidant.User
	ExpiresAt time.Time
	// Code is the invitation's token for handing over in person; empty
	// when the invitation was mailed. It is shown once and never stored.
	Code string
}

// newInvitation draws a token and returns it with its stored form.
func (s *Service) newInvitation(userID, by string, now time.Time) (string, confidant.Invitation, error) {
	raw := make([]byte, invitationTokenLen)
	if _, err := rand.Read(raw); err != nil {
		return "", confidant.Invitation{}, err
	}
	h := sha256.Sum256(raw)
	return EncodeInvitationToken(raw), confidant.Invitation{
		TokenHash: h[:], UserID: userID, CreatedBy: by, CreatedAt: now, ExpiresAt: now.Add(s.cfg.InvitationTTL),
	}, nil
}

// checkEmail accepts a bare address (no display name, no comments).
func checkEmail(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" || len(addr) > 254 {
		return confidant.Errorf(confidant.KindInvalid, "invalid_email", "Enter an email address such as name@example.org.")
	}
	return nil
}

// publicURL is the configured address of the web app, without a final /.
func (s *Service) publicURL() string { return strings.TrimRight(s.cfg.PublicURL, "/") }

// invitationLink is the page where an invitee sets their password. The
// token rides in the fragment, which browsers never send to a server, so it
// appears in no request line or log.
func (s *Service) invitationLink(code string) string {
	return s.publicURL() + "/invite#" + code
}

// sendInvitation mails the invitation for u to addr. The message names no
// patient and no clinic.
func (s *Service) sendInvitation(ctx context.Context, addr string, u confidant.User, code string, expires time.Time) error {
	if s.mailer == nil {
		return confidant.Errorf(confidant.KindUnavailable, "mail_unavailable", "This server sends no mail; use a hand-over code.")
	}
	what := "a Confidant account"
	if u.Role == confidant.RolePatient {
		what = "a Confidant patient portal account"
	}
	text := fmt.Sprintf(`You have been invited to %s (username %s).

Set your password here, before %s:

  %s

If the link does not open, go to %s/invite and enter this code:

  %s

The invitation works once. Nobody else knows or can set your password; staff
accounts set up a sign-in code app right after the password. If you did not
expect this message, ignore it.
`, what, u.Username, expires.UTC().Format("2006-01-02 15:04 UTC"), s.invitationLink(code),
		s.publicURL(), groupCode(code))
	err := s.mailer.Send(ctx, cmail.Message{To: []string{addr}, Subject: "Your invitation to Confidant", Text: text})
	if err != nil {
		s.log.WarnContext(ctx, "invitation not sent", slog.String("user", u.ID), slog.String("code", confidant.CodeOf(err)))
		return confidant.Errorf(confidant.KindUnavailable, "invitation_not_sent",
			"The account was created but its invitation could not be sent. Send a new invitation later.")
	}
	return nil
}

// groupCode writes a code in groups of four for reading out.
func groupCode(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// GroupCode writes an invitation code in groups of four, for display.
func GroupCode(code string) string { return groupCode(code) }

// AcceptInvitation sets the password of the invited account, once (see
// AcceptInvitationSignIn, which also starts the enrolment of a staff
// account's second factor; without it, a staff account accepted here
// cannot sign in until it is reset).
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (confidant.User, error) {
	u, _, err := s.AcceptInvitationSignIn(ctx, token, password)
	return u, err
}

// AcceptInvitationSignIn sets the password of the invited account, once.
// For a staff account it also starts a pending sign-in of kind
// SessionMFAEnrol (valid for MFAEnrolLife), returned as res.MFAToken with
// res.MFAEnrol set: the only way to enrol a second factor, so that the
// invitation (delivered to the invitee alone) and not a password decides
// whose authenticator the account gets. Every unusable token answers
// KindInvalid "invitation_invalid"; an expired, used or revoked one is a
// denied event on the account's (and, for a portal account, the
// patient's) access log.
func (s *Service) AcceptInvitationSignIn(ctx context.Context, token, password string) (confidant.User, LoginResult, error) {
	raw, err := DecodeInvitationToken(token)
	if err != nil {
		return confidant.User{}, LoginResult{}, err
	}
	if err := CheckPassword(password); err != nil {
		return confidant.User{}, LoginResult{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return confidant.User{}, LoginResult{}, err
	}
	h := sha256.Sum256(raw)
	now := s.clock()
	mtok, mhash := newToken()
	msID := confidant.NewID()
	var res LoginResult
	var (
		u       confidant.User
		refused bool
	)
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if u, refused, err = invitationUser(ctx, tx, h[:], now); err != nil {
			return err
		}
		if refused, err = useInvitation(ctx, tx, h[:], now); err != nil {
			return err
		}
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		res = LoginResult{}
		if u.Role.Staff() {
			ms := confidant.Session{
				ID: msID, TokenHash: mhash, UserID: u.ID, Kind: SessionMFAEnrol,
				CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(MFAEnrolLife),
			}
			if err := tx.CreateSession(ctx, ms); err != nil {
				return err
			}
			res = LoginResult{MFAToken: mtok, MFAExpiresAt: ms.ExpiresAt, MFAEnrol: true}
		}
		return tx.Audit(s.userEvent(ctx, ActInvitationAccept, u, "", confidant.OutcomeOK))
	})
	if err != nil {
		if refused {
			if rerr := s.record(ctx, s.userEvent(ctx, ActInvitationAccept, u, "", confidant.OutcomeDenied)); rerr != nil {
				return confidant.User{}, LoginResult{}, rerr
			}
		}
		return confidant.User{}, LoginResult{}, err
	}
	u.PasswordHash = ""
	return u, res, nil
}

// ApproveAccount lets a therapist account awaiting approval reach the
// patients in its care. Only a security officer may approve, never the
// manager who invited the account nor the account itself.
//
// Approving is a sensitive action: code is the security officer's current
// second-factor code (step-up), checked in the approval's transaction.
func (s *Service) ApproveAccount(ctx context.Context, id, code string) (confidant.User, error) {
	a, err := need(ctx, policy.ApproveAccount)
	if err != nil {
		return confidant.User{}, s.wrote(ctx, ActAccountApprove, "", id, err)
	}
	if err := checkID(id); err != nil {
		return confidant.User{}, err
	}
	if id == a.UserID {
		return confidant.User{}, s.wrote(ctx, ActAccountApprove, "", id, errApproveSelf)
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return confidant.User{}, err
	}
	now := s.clock()
	var u confidant.User
	err = s.update(ctx, func(tx confidant.Tx) error {
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		if u.InvitedBy == a.UserID {
			return errApproveOwnInvitation
		}
		if !u.AwaitingApproval {
			return confidant.Errorf(confidant.KindConflict, "already_approved", "This account does not await approval.")
		}
		if err := s.stepUp(ctx, tx, a, code); err != nil {
			return err
		}
		if err := tx.ApproveUser(ctx, id, a.UserID, now); err != nil {
			return err
		}
		u.AwaitingApproval, u.ApprovedBy, u.ApprovedAt = false, a.UserID, now
		return s.auditTx(ctx, tx, ActAccountApprove, "", id)
	})
	if isStepUpRefusal(err) {
		err = s.stepUpFailed(ctx, ActAccountApprove, err)
	}
	u.PasswordHash = ""
	if err := s.wrote(ctx, ActAccountApprove, "", id, err); err != nil {
		return confidant.User{}, err
	}
	return u, nil
}

var (
	errApproveSelf = confidant.Errorf(confidant.KindPermission, "cannot_approve_self",
		"You cannot approve your own account.")
	errApproveOwnInvitation = confidant.Errorf(confidant.KindPermission, "cannot_approve_own_invitation",
		"A second person must approve: you invited this account.")
)

// AccountsAwaitingApproval lists the therapist accounts that no security
// officer has approved yet (to security officers).
func (s *Service) AccountsAwaitingApproval(ctx context.Context) ([]confidant.User, error) {
	if _, err := need(ctx, policy.ApproveAccount); err != nil {
		return nil, err
	}
	var us []confidant.User
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		us, err = tx.ListUsers(ctx, confidant.UserFilter{Role: confidant.RoleTherapist})
		return err
	})
	var out []confidant.User
	for _, u := range us {
		if u.AwaitingApproval {
			u.PasswordHash = ""
			out = append(out, u)
		}
	}
	return out, err
}

// ResetAccount is a security officer's forced reset of a staff account
// (one suspected stolen, or whose owner lost their phone): its password
// is cleared, its TOTP enrolment removed, its sessions and earlier
// invitations ended, and a new invitation is mailed to the address on the
// account, never to the officer. The owner sets a new password and enrols
// a second factor again at the next sign-in: a reset never bypasses MFA.
// Patient accounts, and staff accounts without an address, are refused.
func (s *Service) ResetAccount(ctx context.Context, id string) (Invited, error) {
	a, err := need(ctx, policy.ResetAccount)
	if err != nil {
		return Invited{}, s.wrote(ctx, ActAccountReset, "", id, err)
	}
	if err := checkID(id); err != nil {
		return Invited{}, err
	}
	if id == a.UserID {
		return Invited{}, s.wrote(ctx, ActAccountReset, "", id, confidant.Errorf(confidant.KindPermission, "cannot_reset_self",
			"You cannot reset your own account; ask another security officer."))
	}
	now := s.clock()
	code, inv, err := s.newInvitation(id, a.UserID, now)
	if err != nil {
		return Invited{}, err
	}
	if s.mailer == nil {
		return Invited{}, confidant.Errorf(confidant.KindUnavailable, "mail_unavailable", "This server sends no mail.")
	}
	var u confidant.User
	err = s.update(ctx, func(tx confidant.Tx) error {
		if u, err = tx.User(ctx, id); err != nil {
			return err
		}
		if u.Role == confidant.RolePatient {
			return confidant.Errorf(confidant.KindInvalid, "reset_patient_account",
				"Patient accounts are not reset by security officers; the clinic gives the patient a new invitation.")
		}
		if u.Email == "" {
			return confidant.Errorf(confidant.KindInvalid, "missing_email",
				"This account has no email address for the new invitation.")
		}
		if err := tx.SetPassword(ctx, id, ""); err != nil {
			return err
		}
		if err := tx.DeleteUserIdentities(ctx, id); err != nil {
			return err
		}
		if err := tx.DeleteTOTP(ctx, id); err != nil {
			return err
		}
		// Passkeys and recovery codes are second factors too.
		if err := tx.DeleteWebAuthnCredentials(ctx, id); err != nil {
			return err
		}
		if err := tx.SetRecoveryCodes(ctx, id, nil, now); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, id); err != nil {
			return err
		}
		if err := tx.RevokeInvitations(ctx, id, now); err != nil {
			return err
		}
		if err := tx.CreateInvitation(ctx, inv); err != nil {
			return err
		}
		if err := s.auditTx(ctx, tx, ActAccountReset, "", id); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActInvitationSend, "", id)
	})
	u.PasswordHash = ""
	if err := s.wrote(ctx, ActAccountReset, "", id, err); err != nil {
		return Invited{}, err
	}
	return Invited{User: u, ExpiresAt: inv.ExpiresAt}, s.sendInvitation(ctx, u.Email, u, code, inv.ExpiresAt)
}

// invitationUser reads, in tx, the invitation whose token hashes to h and
// its account: errInvitationInvalid for an unknown token, and with refused
// set for one used, expired or of a disabled account (a denied
// account.invitation.accept event for the caller to record).
func invitationUser(ctx context.Context, tx confidant.Tx, h []byte, now time.Time) (u confidant.User, refused bool, err error) {
	inv, err := tx.Invitation(ctx, h)
	if confidant.IsKind(err, confidant.KindNotFound) {
		return u, false, errInvitationInvalid
	}
	if err != nil {
		return u, false, err
	}
	if u, err = tx.User(ctx, inv.UserID); err != nil {
		return u, false, err
	}
	if !inv.UsedAt.IsZero() || !now.Before(inv.ExpiresAt) || u.Disabled {
		return u, true, errInvitationInvalid
	}
	return u, false, nil
}

// useInvitation marks the invitation used in tx, by a conditional update:
// refused when another request used it first.
func useInvitation(ctx context.Context, tx confidant.Tx, h []byte, now time.Time) (refused bool, err error) {
	if err := tx.UseInvitation(ctx, h, now); err != nil {
		if confidant.IsKind(err, confidant.KindConflict) {
			return true, errInvitationInvalid
		}
		return false, err
	}
	return false, nil
}
