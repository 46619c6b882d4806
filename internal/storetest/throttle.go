package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/confidanthealth/confidant"
)

// Sign-in throttling: failure counts per (client key, account), sums per
// client and per account, clearing, listing and the sweep.
func testLoginFailures(t *testing.T, s confidant.SealedStore) {
	clientA, clientB := []byte("client-key-A-16b"), []byte("client-key-B-16b")
	acct1, acct2, unknown := confidant.NewID(), confidant.NewID(), "~0123456789abcdef"
	get := func(client []byte, account string) confidant.LoginFailures {
		t.Helper()
		return read(t, s, func(ctx context.Context, tx confidant.SealedTx) (confidant.LoginFailures, error) {
			return tx.LoginFailures(ctx, client, account)
		})
	}
	fail := func(client []byte, account string, d time.Duration) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
			return tx.FailLogin(ctx, client, account, at(d))
		})
	}
	diff(t, "nothing counted", confidant.LoginFailures{}, get(clientA, acct1))

	fail(clientA, acct1, time.Minute)
	fail(clientA, acct1, 3*time.Minute)
	fail(clientA, acct1, 2*time.Minute) // out of order: the last failure stays the latest
	fail(clientA, unknown, 4*time.Minute)
	fail(clientB, acct1, 5*time.Minute)
	fail(clientB, acct2, 6*time.Minute)

	diff(t, "A on 1", confidant.LoginFailures{Pair: 3, PairLast: at(3 * time.Minute), Client: 4, ClientLast: at(4 * time.Minute), Account: 4}, get(clientA, acct1))
	diff(t, "B on 1", confidant.LoginFailures{Pair: 1, PairLast: at(5 * time.Minute), Client: 2, ClientLast: at(6 * time.Minute), Account: 4}, get(clientB, acct1))
	diff(t, "A on 2", confidant.LoginFailures{Client: 4, ClientLast: at(4 * time.Minute), Account: 1}, get(clientA, acct2))
	diff(t, "unknown client on 1", confidant.LoginFailures{Account: 4}, get([]byte("client-key-C-16b"), acct1))

	list := read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.ThrottledAccount, error) {
		return tx.ListLoginFailures(ctx, 0)
	})
	diff(t, "list", []confidant.ThrottledAccount{
		{AccountID: acct2, Failures: 1, Clients: 1, MaxFailures: 1, LastFailure: at(6 * time.Minute)},
		{AccountID: acct1, Failures: 4, Clients: 2, MaxFailures: 3, LastFailure: at(5 * time.Minute)},
		{AccountID: unknown, Failures: 1, Clients: 1, MaxFailures: 1, LastFailure: at(4 * time.Minute)},
	}, list)
	list = read(t, s, func(ctx context.Context, tx confidant.SealedTx) ([]confidant.ThrottledAccount, error) {
		return tx.ListLoginFailures(ctx, 1)
	})
	if len(list) != 1 || list[0].AccountID != acct2 {
		t.Errorf("ListLoginFailures(1) = %+v, want acct2 only", list)
	}

	// A success forgets that client's failures on that account only.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ClearLoginFailures(ctx, clientB, acct1)
	})
	diff(t, "B on 1 after its success", confidant.LoginFailures{Client: 1, ClientLast: at(6 * time.Minute), Account: 3}, get(clientB, acct1))
	diff(t, "A on 1 after B's success", 3, get(clientA, acct1).Pair)

	// An officer's clear forgets every client's failures on the account.
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		return tx.ClearAccountFailures(ctx, acct1)
	})
	diff(t, "A on 1 after clear", confidant.LoginFailures{Client: 1, ClientLast: at(4 * time.Minute)}, get(clientA, acct1))

	// The sweep deletes rows whose last failure is before the cut-off.
	n := 0
	update(t, s, func(ctx context.Context, tx confidant.SealedTx) error {
		var err error
		n, err = tx.DeleteLoginFailures(ctx, at(5*time.Minute))
		return err
	})
	if n != 1 {
		t.Errorf("DeleteLoginFailures = %d, want 1 (the unknown username's row)", n)
	}
	diff(t, "B on 2 after the sweep", 1, get(clientB, acct2).Pair)

	// Concurrent failures are all counted.
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			errs <- s.Update(t.Context(), func(tx confidant.SealedTx) error {
				return tx.FailLogin(t.Context(), clientA, acct2, at(7*time.Minute))
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent FailLogin: %v", err)
		}
	}
	diff(t, "A on 2 after concurrent failures", workers, get(clientA, acct2).Pair)
}
