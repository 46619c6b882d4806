package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Alerts: stored byte-exact, raised once per key (a second insert with the
// key reports false and changes nothing), listed newest first with the
// filters and the cursor, changed only from the expected status, counted
// by rule in a period.
func testAlerts(t *testing.T, s confidant.SealedStore) {
	alert := func(rule, key string, created time.Duration) confidant.SealedAlert {
		return confidant.SealedAlert{
			ID: confidant.NewID(), Rule: rule, Severity: confidant.AlertHigh, ActorID: confidant.NewID(), ClinicID: confidant.NewID(),
			Key: key, CreatedAt: at(created), Status: confidant.AlertNew, From: at(created - time.Hour), To: at(created),
			FirstIndex: 7, LastIndex: 1 << 40, Data: sealed(), FactMAC: randomBytes(32),
		}
	}
	a1 := alert("no_care", "k1", time.Hour)
	a2 := alert("honeytoken", "k2", 2*time.Hour)
	a3 := alert("no_care", "k3", 2*time.Hour) // same time as a2: the id orders them
	a4 := alert("bulk_read", "k4", 3*time.Hour)
	a4.ActorID, a4.ClinicID, a4.From, a4.To, a4.FirstIndex, a4.LastIndex = "", "", time.Time{}, time.Time{}, 0, 0
	create := func(a confidant.SealedAlert) bool {
		var ok bool
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			ok, err = tx.CreateAlert(ctx, a)
			return err
		})
		return ok
	}
	for _, a := range []confidant.SealedAlert{a1, a2, a3, a4} {
		if !create(a) {
			t.Fatalf("CreateAlert %s: not inserted", a.Key)
		}
	}
	dup := alert("other", "k1", 5*time.Hour)
	if create(dup) {
		t.Errorf("CreateAlert with an existing key: inserted")
	}
	get := func(id string) (confidant.SealedAlert, error) {
		var a confidant.SealedAlert
		err := tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			a, err = tx.Alert(ctx, id)
			return err
		})
		return a, err
	}
	for _, want := range []confidant.SealedAlert{a1, a4} {
		got, err := get(want.ID)
		if err != nil {
			t.Fatalf("Alert: %v", err)
		}
		diff(t, "alert", want, got)
	}
	_, err := get(dup.ID)
	wantKind(t, "Alert of a duplicate never stored", err, confidant.KindNotFound)
	_, err = get(confidant.NewID())
	wantKind(t, "Alert of an unknown id", err, confidant.KindNotFound)

	// The two alerts created at the same time are ordered by id, descending.
	mid := []confidant.SealedAlert{a2, a3}
	if a3.ID > a2.ID {
		mid = []confidant.SealedAlert{a3, a2}
	}
	all := []confidant.SealedAlert{a4, mid[0], mid[1], a1}
	ids := func(as []confidant.SealedAlert) []string {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.ID
		}
		return out
	}
	list := func(f confidant.AlertFilter) []string {
		var as []confidant.SealedAlert
		view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			var err error
			as, err = tx.ListAlerts(ctx, f)
			return err
		})
		return ids(as)
	}
	for _, c := range []struct {
		name string
		f    confidant.AlertFilter
		want []confidant.SealedAlert
	}{
		{"all", confidant.AlertFilter{}, all},
		{"since (inclusive)", confidant.AlertFilter{Since: at(2 * time.Hour)}, all[:3]},
		{"rule", confidant.AlertFilter{Rule: "no_care"}, []confidant.SealedAlert{a3, a1}},
		{"status", confidant.AlertFilter{Status: confidant.AlertNew}, all},
		{"limit", confidant.AlertFilter{Limit: 2}, all[:2]},
		{"before", confidant.AlertFilter{Before: all[1].ID}, all[2:]},
		{"before, limit", confidant.AlertFilter{Before: all[0].ID, Limit: 2}, all[1:3]},
		{"before an unknown id", confidant.AlertFilter{Before: confidant.NewID()}, nil},
	} {
		diff(t, "ListAlerts "+c.name, ids(c.want), list(c.f))
	}

	// A conditional status change.
	ch := confidant.SealedAlertChange{Status: confidant.AlertDismissed, DecidedBy: confidant.NewID(), DecidedAt: at(4 * time.Hour),
		IncidentID: "", Data: sealed(), FactMAC: randomBytes(32)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetAlertStatus(ctx, a1.ID, confidant.AlertNew, ch)
	})
	wantKind(t, "SetAlertStatus from a status it no longer has", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetAlertStatus(ctx, a1.ID, confidant.AlertNew, confidant.SealedAlertChange{Status: confidant.AlertAcknowledged, Data: sealed(), FactMAC: randomBytes(32)})
	}), confidant.KindConflict)
	wantKind(t, "SetAlertStatus of an unknown alert", tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetAlertStatus(ctx, confidant.NewID(), confidant.AlertNew, ch)
	}), confidant.KindNotFound)
	want := a1
	want.Status, want.DecidedBy, want.DecidedAt, want.Data, want.FactMAC = ch.Status, ch.DecidedBy, ch.DecidedAt, ch.Data, ch.FactMAC
	got, err := get(a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "dismissed alert", want, got)
	esc := confidant.SealedAlertChange{Status: confidant.AlertEscalated, DecidedBy: confidant.NewID(), DecidedAt: at(5 * time.Hour),
		IncidentID: confidant.NewID(), Data: sealed(), FactMAC: randomBytes(32)}
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.SetAlertStatus(ctx, a2.ID, confidant.AlertNew, esc)
	})
	if got, _ := get(a2.ID); got.Status != confidant.AlertEscalated || got.IncidentID != esc.IncidentID {
		t.Errorf("escalated alert: status %q incident %q", got.Status, got.IncidentID)
	}
	diff(t, "ListAlerts dismissed", []string{a1.ID}, list(confidant.AlertFilter{Status: confidant.AlertDismissed}))
	diff(t, "ListAlerts new", ids([]confidant.SealedAlert{a4, a3}), list(confidant.AlertFilter{Status: confidant.AlertNew}))

	// Counts by rule in [since, until).
	var counts map[string]int
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		counts, err = tx.CountAlerts(ctx, at(time.Hour), at(3*time.Hour))
		return err
	})
	diff(t, "CountAlerts", map[string]int{"no_care": 2, "honeytoken": 1}, counts)
}

// Honeytokens: stored byte-exact, unique by tag, found by tag, listed
// newest first.
func testHoneytokens(t *testing.T, s confidant.SealedStore) {
	h := func(d time.Duration) confidant.SealedHoneytoken {
		return confidant.SealedHoneytoken{ID: confidant.NewID(), Tag: randomBytes(32), ClinicID: confidant.NewID(),
			CreatedBy: confidant.NewID(), CreatedAt: at(d), Data: sealed(), FactMAC: randomBytes(32)}
	}
	h1, h2 := h(time.Hour), h(2*time.Hour)
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		if err := tx.CreateHoneytoken(ctx, h1); err != nil {
			return err
		}
		return tx.CreateHoneytoken(ctx, h2)
	})
	again := h(3 * time.Hour)
	again.Tag = h1.Tag
	err := tryUpdate(t, s, func(ctx context.Context, tx confidant.SealedTx) error { return tx.CreateHoneytoken(ctx, again) })
	wantKind(t, "CreateHoneytoken with a tag stored already", err, confidant.KindConflict)
	if confidant.CodeOf(err) != "honeytoken_exists" {
		t.Errorf("CreateHoneytoken twice: code %q, want honeytoken_exists", confidant.CodeOf(err))
	}
	var list []confidant.SealedHoneytoken
	var got confidant.SealedHoneytoken
	view(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		if list, err = tx.ListHoneytokens(ctx); err != nil {
			return err
		}
		got, err = tx.HoneytokenByTag(ctx, h2.Tag)
		return err
	})
	diff(t, "ListHoneytokens", []confidant.SealedHoneytoken{h2, h1}, list)
	diff(t, "HoneytokenByTag", h2, got)
	err = tryView(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		_, err := tx.HoneytokenByTag(ctx, randomBytes(32))
		return err
	})
	wantKind(t, "HoneytokenByTag of an unknown tag", err, confidant.KindNotFound)
}
