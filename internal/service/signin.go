package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
	cmail "github.com/confidanthealth/confidant/internal/mail"
)

// Sessions and notices: each user sees their own active sessions (client,
// start, last use) and ends any of them, and is told, in the app and by
// mail to the account's address, about a sign-in from a client the account
// had not signed in from and about repeated failed sign-ins.

// Actions recorded in the access log (never rename).
const (
	ActSessionsList = "account.sessions.list" // a user listed their own sessions
	ActSessionEnd   = "account.session.end"   // a user ended one of their own sessions
)

// FailureNoticeAt is the number of failed sign-ins counted against an
// account (all clients) from which its owner is told, at most once per
// FailureNoticeEvery.
const (
	FailureNoticeAt    = 5
	FailureNoticeEvery = time.Hour
	// noticesShown is how many notices a user's list shows.
	noticesShown = 50
)

// clientKey is the digest under which a client (address and software) of
// a user is remembered: the addresses a user signed in from are not kept
// in a list anyone can read back.
func clientKey(userID, client, agent string) []byte {
	h := sha256.Sum256([]byte("confidant client v1\x00" + userID + "\x00" + client + "\x00" + agent))
	return h[:]
}

// signedIn runs after every completed sign-in (password and second factor,
// whichever factor it was), outside its transaction: it remembers the
// client and, when the account had signed in before but never from this
// client, leaves a notice and mails it to the account's address. It never
// fails the sign-in: errors are logged (ids and codes only).
func (s *Service) signedIn(ctx context.Context, u confidant.User, sess confidant.Session) {
	now := s.clock()
	key := clientKey(u.ID, sess.Client, sess.Agent)
	n := confidant.Notice{ID: confidant.NewID(), UserID: u.ID, Kind: confidant.NoticeNewClient, At: now, Client: sess.Client, Agent: sess.Agent}
	var noticed bool
	err := s.update(ctx, func(tx confidant.Tx) error {
		known, anyClient, err := tx.KnownClient(ctx, u.ID, key)
		if err != nil {
			return err
		}
		noticed = !known && anyClient
		if err := tx.PutClient(ctx, u.ID, key, now); err != nil {
			return err
		}
		if noticed {
			if err := tx.CreateNotice(ctx, n); err != nil {
				return err
			}
			// The detector's new_client rule reads it (docs/INCIDENTS.md).
			return tx.Audit(s.userEvent(ctx, ActLoginNewClient, u, sess.ID, confidant.OutcomeOK))
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "sign-in client not recorded", slog.String("user", u.ID), slog.String("code", confidant.CodeOf(err)))
		return
	}
	if noticed {
		s.mailNotice(ctx, u, n)
	}
}

// failedSignIns runs after a failed sign-in step of a known account was
// counted, with the account's failures (all clients): from
// FailureNoticeAt on it leaves a notice (at most one per
// FailureNoticeEvery) and mails it. Errors are logged.
func (s *Service) failedSignIns(ctx context.Context, userID string, failures int) {
	if failures < FailureNoticeAt {
		return
	}
	now := s.clock()
	n := confidant.Notice{
		ID: confidant.NewID(), UserID: userID, Kind: confidant.NoticeFailures, At: now,
		Client: confidant.ClientFrom(ctx), Agent: confidant.AgentFrom(ctx), Count: failures,
	}
	var (
		u        confidant.User
		noticed  bool
		errLater = func(err error) {
			s.log.WarnContext(ctx, "failure notice not recorded", slog.String("user", userID), slog.String("code", confidant.CodeOf(err)))
		}
	)
	err := s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if u, err = tx.User(ctx, userID); err != nil {
			return err
		}
		last, err := tx.LatestNotice(ctx, userID, confidant.NoticeFailures)
		if err != nil {
			return err
		}
		noticed = last.IsZero() || now.Sub(last) >= FailureNoticeEvery
		if noticed {
			return tx.CreateNotice(ctx, n)
		}
		return nil
	})
	if err != nil {
		errLater(err)
		return
	}
	if noticed {
		s.mailNotice(ctx, u, n)
	}
}

// mailNotice mails n to u's address, when u has one and mail is set up.
// The message names no patient.
func (s *Service) mailNotice(ctx context.Context, u confidant.User, n confidant.Notice) {
	if s.mailer == nil || u.Email == "" {
		return
	}
	var subject, text string
	when := n.At.UTC().Format("2006-01-02 15:04 UTC")
	switch n.Kind {
	case confidant.NoticeNewClient:
		subject = "New sign-in to your Confidant account"
		text = fmt.Sprintf(`Your Confidant account %s was signed in to at %s
from a device or address it had not been used from before:

  address:  %s
  software: %s

If this was you, there is nothing to do. If not, sign in, end that session on
the Sign-ins page (%s/sessions), change your password, and tell your
security officer at once.
`, u.Username, when, n.Client, n.Agent, s.publicURL())
	case confidant.NoticeFailures:
		subject = "Failed sign-ins to your Confidant account"
		text = fmt.Sprintf(`There were %d failed attempts to sign in to your Confidant account %s,
the latest at %s from %s.

Confidant slows such attempts down; your account stays usable. If this was not
you, tell your security officer. See the Sign-ins page: %s/sessions
`, n.Count, u.Username, when, n.Client, s.publicURL())
	default:
		return
	}
	if err := s.mailer.Send(ctx, cmail.Message{To: []string{u.Email}, Subject: subject, Text: text}); err != nil {
		s.log.WarnContext(ctx, "notice not mailed", slog.String("user", u.ID), slog.String("notice", n.ID), slog.String("code", confidant.CodeOf(err)))
	}
}

// SessionInfo is one of a user's own sessions, as they see it.
type SessionInfo struct {
	ID        string
	Kind      string // SessionWeb or SessionAPI
	Client    string
	Agent     string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
	Current   bool // the session of this request
}

// MySessions returns the signed-in user's live sessions (web and API),
// newest first, the current one marked. The listing is an access-log event.
func (s *Service) MySessions(ctx context.Context) ([]SessionInfo, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var ss []confidant.Session
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		ss, err = tx.ListUserSessions(ctx, a.UserID, SessionWeb, SessionAPI)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.event(ctx, ActSessionsList, "", a.UserID, confidant.OutcomeOK)); err != nil {
		return nil, err
	}
	now := s.clock()
	out := make([]SessionInfo, 0, len(ss))
	for _, x := range ss {
		if !now.Before(x.ExpiresAt) || (s.cfg.SessionIdle > 0 && now.Sub(x.LastSeen) > s.cfg.SessionIdle) {
			continue // ended by a timeout, waiting for the sweep
		}
		out = append(out, SessionInfo{
			ID: x.ID, Kind: x.Kind, Client: x.Client, Agent: x.Agent, CreatedAt: x.CreatedAt,
			LastSeen: x.LastSeen, ExpiresAt: x.ExpiresAt, Current: x.ID == a.SessionID,
		})
	}
	return out, nil
}

// EndSession ends one of the signed-in user's own sessions (the current
// one too). Another user's session id, or an unknown one, is NotFound.
func (s *Service) EndSession(ctx context.Context, id string) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	ev := s.event(ctx, ActSessionEnd, "", a.UserID, confidant.OutcomeOK)
	ev.Purpose = "session " + id
	return s.update(ctx, func(tx confidant.Tx) error {
		ss, err := tx.ListUserSessions(ctx, a.UserID, SessionWeb, SessionAPI)
		if err != nil {
			return err
		}
		for _, x := range ss {
			if x.ID == id {
				if err := tx.DeleteSession(ctx, id); err != nil {
					return err
				}
				return tx.Audit(ev)
			}
		}
		return confidant.ErrNotFound
	})
}

// MyNotices returns the signed-in user's security notices, newest first.
func (s *Service) MyNotices(ctx context.Context) ([]confidant.Notice, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var ns []confidant.Notice
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		ns, err = tx.ListNotices(ctx, a.UserID, noticesShown)
		return err
	})
	return ns, err
}

// ReadNotices marks the signed-in user's notices read.
func (s *Service) ReadNotices(ctx context.Context) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	now := s.clock()
	return s.update(ctx, func(tx confidant.Tx) error { return tx.ReadNotices(ctx, a.UserID, now) })
}
