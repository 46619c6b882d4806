package audit

import (
	"context"
	"log/slog"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// keyUses is the capacity of the queue of key-use events.
const keyUses = 8192

// KeyUse records that a keyset was unwrapped by the KEK (internal/keys calls
// it on every cache miss: keys.Keyring.OnUnwrap). Unwraps happen inside
// transactions, possibly inside the sequencer's own batch, so KeyUse never
// blocks: it queues the event and a goroutine records it in the next batch.
// If the queue is full the event is dropped and the drop is logged; under
// normal load it never fills (a few events per patient opened per cache
// lifetime).
func (l *Log) KeyUse(owner, kekID string) {
	ev := confidant.AuditEvent{
		Time: time.Now().UTC().Truncate(time.Microsecond), Role: "system", Action: confidant.ActionKeyUnwrap,
		Outcome: confidant.OutcomeOK, Purpose: "unwrapped " + owner + " with " + kekID,
	}
	if confidant.ValidID(owner) {
		ev.PatientID = owner
	}
	select {
	case l.keyUse <- ev:
	default:
		l.log.Warn("key-use event dropped: queue full", slog.String("kek", kekID))
	}
}

// recordKeyUse drains the key-use queue into the log until stop.
func (l *Log) recordKeyUse() {
	defer l.wg.Done()
	for {
		var evs []confidant.AuditEvent
		select {
		case ev := <-l.keyUse:
			evs = append(evs, ev)
		case <-l.stop:
			return
		}
	more:
		for len(evs) < 256 {
			select {
			case ev := <-l.keyUse:
				evs = append(evs, ev)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := l.Record(ctx, evs...); err != nil {
			l.log.Error("recording key use failed", slog.Int("events", len(evs)), slog.String("err", err.Error()))
		}
		cancel()
	}
}
