package testfix

import (
	"context"
	"errors"
	"sync"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/seal"
)

// Faults is a store (from Seal) whose transactions can be made to fail as
// they do when the database breaks, to test what transports answer. It
// fakes the store's errors, not the database: the stores' own tests show
// that they report these errors (internal/postgres, internal/sqlite).
type Faults struct {
	confidant.Store
	backend confidant.SealedStore

	mu   sync.Mutex
	lose int  // Updates still to commit and then report ErrOutcomeUnknown
	down bool // every transaction fails with database_unavailable
}

// NewFaults wraps st; until told otherwise it passes everything through.
func NewFaults(st *seal.Store) *Faults {
	return &Faults{Store: st, backend: st.Backend()}
}

// Backend returns the store's backend (the access log), for New.
func (f *Faults) Backend() confidant.SealedStore { return f.backend }

// LoseAnswer makes the next Update commit and then return
// confidant.ErrOutcomeUnknown, as when the connection breaks after COMMIT
// was sent: the change is saved, but the caller is not told so.
func (f *Faults) LoseAnswer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lose++
}

// SetDown makes every transaction fail, without running, with the error of
// a database that cannot be reached (KindUnavailable,
// "database_unavailable"), until SetDown(false).
func (f *Faults) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

var errDown = confidant.Wrap(errors.New("testfix: database down"), confidant.KindUnavailable,
	"database_unavailable", "The database is not available. Please try again later.")

// Update runs fn unless the database is down; see LoseAnswer.
func (f *Faults) Update(ctx context.Context, fn func(confidant.Tx) error) error {
	f.mu.Lock()
	down, lose := f.down, f.lose > 0
	if lose && !down {
		f.lose--
	}
	f.mu.Unlock()
	if down {
		return errDown
	}
	err := f.Store.Update(ctx, fn)
	if err == nil && lose {
		return confidant.ErrOutcomeUnknown(errors.New("testfix: answer to COMMIT lost"))
	}
	return err
}

// View runs fn unless the database is down.
func (f *Faults) View(ctx context.Context, fn func(confidant.Tx) error) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errDown
	}
	return f.Store.View(ctx, fn)
}
