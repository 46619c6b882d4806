package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Recipients: stored byte-exact with their MAC, listed oldest first, and
// changed only from the expected status (one conditional update).
func testRecipients(t *testing.T, s confidant.SealedStore) {
	r1 := confidant.SealedRecipient{ID: confidant.NewID(), Kind: confidant.RecipientEmail, Label: confidant.LabelBoard,
		Status: confidant.RecipientPending, ProposedBy: confidant.NewID(), ProposedAt: at(time.Hour), Data: sealed(), FactMAC: randomBytes(32)}
	r2 := confidant.SealedRecipient{ID: confidant.NewID(), Kind: confidant.RecipientWebhook, Label: confidant.LabelOther,
		Status: confidant.RecipientActive, ProposedBy: confidant.NewID(), ProposedAt: at(2 * time.Hour),
		ApprovedBy: confidant.NewID(), ApprovedAt: at(3 * time.Hour), Data: sealed(), FactMAC: randomBytes(32)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateRecipient(ctx, r2); err != nil {
			return err
		}
		return tx.CreateRecipient(ctx, r1)
	})
	wantKind(t, "CreateRecipient twice", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.CreateRecipient(ctx, r1)
	}), confidant.KindConflict)
	var list []confidant.SealedRecipient
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		got, err := tx.Recipient(ctx, r1.ID)
		if err != nil {
			return err
		}
		diff(t, "recipient", r1, got)
		list, err = tx.ListRecipients(ctx)
		return err
	})
	diff(t, "recipients", []confidant.SealedRecipient{r1, r2}, list)
	wantKind(t, "Recipient of an unknown id", tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.Recipient(ctx, confidant.NewID())
		return err
	}), confidant.KindNotFound)

	// Approve r1: from pending only.
	approved := r1
	approved.Status, approved.ApprovedBy, approved.ApprovedAt, approved.FactMAC = confidant.RecipientActive, confidant.NewID(), at(4*time.Hour), randomBytes(32)
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateRecipient(ctx, approved, confidant.RecipientActive)
	})
	if confidant.CodeOf(err) != "recipient_changed" {
		t.Errorf("UpdateRecipient from the wrong status: %v, want recipient_changed", err)
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateRecipient(ctx, approved, confidant.RecipientPending)
	})
	if err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateRecipient(ctx, approved, confidant.RecipientPending)
	}); confidant.CodeOf(err) != "recipient_changed" {
		t.Errorf("approving twice: %v, want recipient_changed", err)
	}
	unknown := approved
	unknown.ID = confidant.NewID()
	wantKind(t, "UpdateRecipient of an unknown id", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.UpdateRecipient(ctx, unknown, confidant.RecipientPending)
	}), confidant.KindNotFound)
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		got, err := tx.Recipient(ctx, r1.ID)
		diff(t, "approved recipient", approved, got)
		return err
	})
}

func outboxItem(key, recipient string, created, due time.Duration) confidant.SealedOutboxItem {
	return confidant.SealedOutboxItem{ID: confidant.NewID(), MessageKey: key, Recipient: recipient, Channel: confidant.RecipientEmail,
		Data: sealed(), CreatedAt: at(created), NextAttemptAt: at(due)}
}

// The outbox: unique (message key, recipient); due rows leased by one
// conditional update, so that a leased row is not claimed again until
// its lease ends; delivered and failed only by the lease's owner.
func testOutbox(t *testing.T, s confidant.SealedStore) {
	a := outboxItem("alert:1", "user:a", 0, 0)
	b := outboxItem("alert:1", "recipient:b", 0, time.Minute)
	dup := outboxItem("alert:1", "user:a", time.Second, 0)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EnqueueOutbox(ctx, []confidant.SealedOutboxItem{a, b, dup})
	})
	// Queued again in another transaction: skipped too.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.EnqueueOutbox(ctx, []confidant.SealedOutboxItem{outboxItem("alert:1", "recipient:b", 0, 0)})
	})
	claim := func(owner string, now time.Duration, limit int) []confidant.SealedOutboxItem {
		t.Helper()
		var got []confidant.SealedOutboxItem
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.ClaimOutbox(ctx, owner, at(now), at(now+time.Minute), limit)
			return err
		})
		return got
	}
	got := claim("w1", 0, 10)
	if len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("claim at 0: %s, want only the due item", outboxSummary(got))
	}
	want := a
	want.LeaseOwner, want.LeaseUntil = "w1", at(time.Minute)
	diff(t, "claimed item", want, got[0])
	if again := claim("w2", 30*time.Second, 10); len(again) != 0 {
		t.Errorf("claim of a leased item by another worker: %d items, want 0", len(again))
	}
	wantCode := func(what string, err error, code string) {
		t.Helper()
		if confidant.CodeOf(err) != code {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
	}
	wantCode("FinishOutbox by a worker without the lease", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.FinishOutbox(ctx, a.ID, "w2", at(time.Second))
	}), "lease_lost")
	// The lease ends: another worker takes both due items over.
	got = claim("w2", 2*time.Minute, 10)
	if len(got) != 2 {
		t.Fatalf("claim after the lease ended: %d items, want 2", len(got))
	}
	wantCode("FinishOutbox by the worker whose lease ended", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.FinishOutbox(ctx, a.ID, "w1", at(time.Second))
	}), "lease_lost")
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.FinishOutbox(ctx, a.ID, "w2", at(2*time.Minute)); err != nil {
			return err
		}
		return tx.FailOutbox(ctx, b.ID, "w2", at(time.Hour), "smtp_refused")
	})
	wantCode("FinishOutbox twice", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.FinishOutbox(ctx, a.ID, "w2", at(3*time.Minute))
	}), "lease_lost")
	if got := claim("w3", 30*time.Minute, 10); len(got) != 0 {
		t.Errorf("claim before the retry is due: %d items, want 0", len(got))
	}
	list := func(st confidant.OutboxStatus) []confidant.SealedOutboxItem {
		t.Helper()
		var got []confidant.SealedOutboxItem
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			got, err = tx.ListOutbox(ctx, confidant.OutboxFilter{Status: st})
			return err
		})
		return got
	}
	delivered := list(confidant.OutboxDelivered)
	if len(delivered) != 1 || delivered[0].ID != a.ID || !delivered[0].DeliveredAt.Equal(us(at(2*time.Minute))) ||
		delivered[0].Attempts != 1 || delivered[0].LeaseOwner != "" {
		t.Errorf("delivered: %s", outboxSummary(delivered))
	}
	failed := list(confidant.OutboxFailed)
	if len(failed) != 1 || failed[0].ID != b.ID || failed[0].Attempts != 1 || failed[0].LastError != "smtp_refused" ||
		!failed[0].NextAttemptAt.Equal(us(at(time.Hour))) || !failed[0].DeliveredAt.IsZero() {
		t.Errorf("failed: %s", outboxSummary(failed))
	}
	if p := list(confidant.OutboxPending); len(p) != 0 {
		t.Errorf("pending: %d, want 0", len(p))
	}
	if all := list(""); len(all) != 2 {
		t.Errorf("all: %d, want 2", len(all))
	}
	wantKind(t, "ListOutbox of an unknown status", tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.ListOutbox(ctx, confidant.OutboxFilter{Status: "lost"})
		return err
	}), confidant.KindInvalid)
	if got := claim("w3", time.Hour, 10); len(got) != 1 || got[0].ID != b.ID || got[0].Attempts != 1 {
		t.Errorf("claim when the retry is due: %s", outboxSummary(got))
	}
}

// Concurrent claims: several workers claiming at once each get distinct
// rows, and every row is claimed once.
func testConcurrentClaims(t *testing.T, s confidant.SealedStore) {
	const items = 40
	rows := make([]confidant.SealedOutboxItem, items)
	for i := range rows {
		rows[i] = outboxItem(confidant.NewID(), "user:x", 0, 0)
	}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.EnqueueOutbox(ctx, rows) })
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := "w" + string(rune('0'+w))
			for {
				var got []confidant.SealedOutboxItem
				err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
					var err error
					got, err = tx.ClaimOutbox(ctx, owner, at(0), at(time.Hour), 3)
					return err
				})
				if confidant.IsKind(err, confidant.KindUnavailable) {
					continue // a conflicting claim: try again
				}
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					seen[g.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != items {
		t.Errorf("claimed %d distinct items, want %d", len(seen), items)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("item %s claimed %d times", id, n)
		}
	}
}

func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// outboxSummary shows items without their sealed data.
func outboxSummary(items []confidant.SealedOutboxItem) string {
	var b strings.Builder
	for _, o := range items {
		fmt.Fprintf(&b, "{%s %s %s attempts=%d next=%s lease=%s/%s delivered=%s err=%q} ", o.ID, o.MessageKey, o.Recipient,
			o.Attempts, o.NextAttemptAt, o.LeaseOwner, o.LeaseUntil, o.DeliveredAt, o.LastError)
	}
	return b.String()
}
