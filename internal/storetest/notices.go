package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Sessions keep their client; a user's sessions are listed by kind; known
// clients and notices are per user.
func testSessionsAndNotices(t *testing.T, s confidant.SealedStore) {
	f := seed(t, s)
	other := newUser(confidant.RoleManager, f.clinic.ID)
	mk := func(kind string, created time.Duration, user string) confidant.Session {
		id := confidant.NewID()
		return confidant.Session{
			ID: id, TokenHash: []byte(id), UserID: user, Kind: kind, CreatedAt: at(created), LastSeen: at(created),
			ExpiresAt: at(created + time.Hour), Client: "198.51.100.7", Agent: "Firefox " + kind,
		}
	}
	web, api, mfa, others := mk("web", time.Minute, f.therapist.ID), mk("api", 2*time.Minute, f.therapist.ID),
		mk("mfa", 3*time.Minute, f.therapist.ID), mk("web", time.Minute, other.ID)
	key, key2 := []byte("client one"), []byte("client two")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateUser(ctx, other); err != nil {
			return err
		}
		for _, x := range []confidant.Session{web, api, mfa, others} {
			if err := tx.CreateSession(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		got, err := tx.SessionByTokenHash(ctx, web.TokenHash)
		if err != nil {
			return err
		}
		diff(t, "session with its client", web, got)
		list, err := tx.ListUserSessions(ctx, f.therapist.ID, "web", "api")
		if err != nil {
			return err
		}
		diff(t, "web and API sessions, newest first", []confidant.Session{api, web}, list)
		all, err := tx.ListUserSessions(ctx, f.therapist.ID)
		if err != nil {
			return err
		}
		diff(t, "all sessions", []confidant.Session{mfa, api, web}, all)
		known, anyClient, err := tx.KnownClient(ctx, f.therapist.ID, key)
		if err != nil || known || anyClient {
			t.Errorf("KnownClient before any: %v %v %v", known, anyClient, err)
		}
		return nil
	})
	n1 := confidant.Notice{ID: confidant.NewID(), UserID: f.therapist.ID, Kind: confidant.NoticeNewClient, At: at(time.Minute), Client: "198.51.100.7", Agent: "Firefox"}
	n2 := confidant.Notice{ID: confidant.NewID(), UserID: f.therapist.ID, Kind: confidant.NoticeFailures, At: at(2 * time.Minute), Client: "203.0.113.5", Count: 5}
	n3 := confidant.Notice{ID: confidant.NewID(), UserID: other.ID, Kind: confidant.NoticeFailures, At: at(3 * time.Minute), Count: 7}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, k := range [][]byte{key, key} { // twice: an upsert
			if err := tx.PutClient(ctx, f.therapist.ID, k, at(time.Minute)); err != nil {
				return err
			}
		}
		for _, n := range []confidant.Notice{n1, n2, n3} {
			if err := tx.CreateNotice(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		for _, c := range []struct {
			user       string
			key        []byte
			known, any bool
		}{{f.therapist.ID, key, true, true}, {f.therapist.ID, key2, false, true}, {other.ID, key, false, false}} {
			known, anyClient, err := tx.KnownClient(ctx, c.user, c.key)
			if err != nil || known != c.known || anyClient != c.any {
				t.Errorf("KnownClient(%s): %v %v %v, want %v %v", c.key, known, anyClient, err, c.known, c.any)
			}
		}
		ns, err := tx.ListNotices(ctx, f.therapist.ID, 10)
		if err != nil {
			return err
		}
		diff(t, "notices, newest first", []confidant.Notice{n2, n1}, ns)
		if ns, err := tx.ListNotices(ctx, f.therapist.ID, 1); err != nil || len(ns) != 1 {
			t.Errorf("ListNotices with limit 1: %d, %v", len(ns), err)
		}
		last, err := tx.LatestNotice(ctx, f.therapist.ID, confidant.NoticeFailures)
		if err != nil || !last.Equal(n2.At.Truncate(time.Microsecond)) {
			t.Errorf("LatestNotice: %v, %v", last, err)
		}
		if last, err := tx.LatestNotice(ctx, other.ID, confidant.NoticeNewClient); err != nil || !last.IsZero() {
			t.Errorf("LatestNotice of none: %v, %v", last, err)
		}
		return nil
	})
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ReadNotices(ctx, f.therapist.ID, at(time.Hour))
	})
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		ns, err := tx.ListNotices(ctx, f.therapist.ID, 10)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if !n.ReadAt.Equal(at(time.Hour).Truncate(time.Microsecond)) {
				t.Errorf("notice %s not read: %v", n.Kind, n.ReadAt)
			}
		}
		os, err := tx.ListNotices(ctx, other.ID, 10)
		if err != nil || len(os) != 1 || !os[0].ReadAt.IsZero() {
			t.Errorf("another user's notices: %+v, %v", os, err)
		}
		return nil
	})
}

// view runs fn in a read-only transaction and fails the test on error.
func view(t *testing.T, s confidant.SealedStore, fn func(ctx context.Context, tx confidant.SealedTx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.View(ctx, func(tx confidant.SealedTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}
