package audit

import (
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// keyUses is the capacity of the queue of key-use events, and the most
// key-use events one batch takes.
const keyUses = 8192

// errKeyUseRefused refuses an unwrap whose key-use event cannot be queued.
var errKeyUseRefused = confidant.Errorf(confidant.KindUnavailable, "audit_unavailable",
	"The access log cannot record the use of a key right now, so the key was not used. Try again shortly.")

// KeyUse records that a keyset was unwrapped by the KEK (internal/keys calls
// it on every cache miss: keys.Keyring.OnUnwrap). Unwraps happen inside
// transactions, possibly inside the sequencer's own batch, so KeyUse never
// blocks: it queues the event for the sequencer, which commits it in the
// next batch, ahead of that batch's own events. A read records its own
// event (Record) after the unwrap, so the read's answer waits for the
// key-use event too; a write's unwrap inside a batch commits with it.
//
// KeyUse fails closed: if the event cannot be queued (the queue is full,
// or the log is closing), it returns an error and the unwrap is refused.
func (l *Log) KeyUse(owner, kekID string) error {
	ev := confidant.AuditEvent{
		Time: time.Now().UTC().Truncate(time.Microsecond), Role: "system", Action: confidant.ActionKeyUnwrap,
		Outcome: confidant.OutcomeOK, Purpose: "unwrapped " + owner + " with " + kekID,
	}
	if confidant.ValidID(owner) {
		ev.PatientID = owner
	}
	l.keyMu.RLock()
	defer l.keyMu.RUnlock()
	if l.closed {
		return errClosed
	}
	select {
	case l.keyUse <- ev:
		return nil
	default:
		return errKeyUseRefused
	}
}

// takeKeyUse moves the queued key-use events to keyPending, up to twice
// the queue's capacity (beyond that the queue fills and KeyUse refuses).
func (l *Log) takeKeyUse() {
	for len(l.keyPending) < 2*keyUses {
		select {
		case ev := <-l.keyUse:
			l.keyPending = append(l.keyPending, ev)
		default:
			return
		}
	}
}
