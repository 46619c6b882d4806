// Package detect watches the access log: it follows the log's committed
// events in index order, exactly once across restarts and across several
// servers on one database, runs the detection rules over them (rules.go;
// docs/INCIDENTS.md, "Detection rules") and raises alerts through a Sink.
//
// Storage is the single source of truth. The detector's position is the
// stored watermark (SealedTx.DetectorState): the index of the next event to
// process. A step reads a batch of committed events from the watermark
// (never beyond the log's size as read in the same snapshot), raises the
// resulting alerts through the sink, which is idempotent by Alert.Key (a
// key derived only from the rule, the account and the window or the event's
// index), and then advances the watermark with a conditional update from
// the value it started from. A crash between raising and advancing makes
// the next step (of this or any server) process the batch again, which
// raises the same keys, so nothing twice. If the conditional update finds
// another value, another server advanced it: the batch was processed there
// too (same keys), and this detector drops its rule state.
//
// Rule state held in memory (per-account counts in time windows, the last
// search of each account) is a cache, valid only while the stored
// watermark equals the value this detector last wrote. At start, after an
// error whose outcome is unknown, and whenever the watermark moved
// elsewhere, it is rebuilt by replaying the events before the watermark
// that fall in the longest window of any rule, without raising.
package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Sink raises alerts; it must be idempotent by Alert.Key (a second alert
// with a key already stored is not stored). The server wires it to the
// alert store (service.RaiseAlertsNow).
type Sink func(ctx context.Context, alerts []confidant.Alert) error

// Honeytokens returns the ids of the decoy patients.
type Honeytokens func(ctx context.Context) (map[string]bool, error)

// Config configures a Detector. Zero fields take the defaults.
type Config struct {
	// Name is the watermark's name in detector_state; default "detector".
	// Every server of one database uses the same name.
	Name string
	// Every is how often Run looks for new events; default 2 s.
	Every time.Duration
	// Batch is the most events one step processes; default 4096.
	Batch int
	// RebuildMax is the most events read back when the rule state is
	// rebuilt; default 1,000,000.
	RebuildMax int
	Rules      Rules
	Sink       Sink
	// Honeytokens lists the decoy patients (nil: none); the list is read
	// again every HoneytokenEvery (default 1 min) and after every
	// honeytoken.created event.
	Honeytokens     Honeytokens
	HoneytokenEvery time.Duration
	// Surname returns the blind index of a family name as patients' family
	// names are indexed (seal.SurnameIndex); nil disables the family-name
	// comparison of staff_close.
	Surname func(family string) ([]byte, error)
	Logger  *slog.Logger
	Clock   func() time.Time // default time.Now
}

// Detector follows the access log and raises alerts.
type Detector struct {
	backend confidant.SealedStore // the access log: events, watermark, patients' indexes
	store   confidant.Store       // the sealing store: authenticated care and grants, accounts
	cfg     Config
	log     *slog.Logger
	kick    chan struct{}

	mu sync.Mutex // one step at a time
	// next is the watermark this detector last read or wrote; valid says
	// whether the rule state in st matches the events before it.
	next  uint64
	valid bool
	st    *state

	tokens     map[string]bool
	tokensAt   time.Time
	tokensOK   bool
	processed  uint64
	lastRaised int
}

// Rollback is the rule name of the alert raised when the stored watermark
// is beyond the end of the log; Integrity that of RaiseIntegrity.
const (
	RuleRollback  = "rollback"
	RuleIntegrity = "integrity"
)

// New returns a detector over backend (the access log, *audit.Log) and
// store (the sealing store over it, *seal.Store).
func New(backend confidant.SealedStore, store confidant.Store, cfg Config) (*Detector, error) {
	if cfg.Name == "" {
		cfg.Name = "detector"
	}
	if cfg.Every <= 0 {
		cfg.Every = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 4096
	}
	if cfg.RebuildMax <= 0 {
		cfg.RebuildMax = 1_000_000
	}
	if cfg.HoneytokenEvery <= 0 {
		cfg.HoneytokenEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Sink == nil {
		return nil, errors.New("detect: no sink")
	}
	rules, err := cfg.Rules.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Rules = rules
	return &Detector{backend: backend, store: store, cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}, nil
}

// Kick asks Run to look for new events now.
func (d *Detector) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run processes new events every Config.Every and on Kick until ctx is
// done. Errors are logged (codes and counts only) and the step is tried
// again at the next tick, from the stored watermark.
func (d *Detector) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Every)
	defer t.Stop()
	for {
		for {
			n, err := d.Step(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("the detector could not process the access log; it will try again",
						slog.String("code", confidant.CodeOf(err)), slog.String("err", err.Error()))
				}
				break
			}
			if n < d.cfg.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// Step processes at most Config.Batch events from the stored watermark and
// returns how many it processed.
func (d *Detector) Step(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.step(ctx)
	if err != nil {
		// Whatever happened (the sink may have stored some alerts, the
		// update may have committed), storage decides at the next step.
		d.valid = false
	}
	return n, err
}

func (d *Detector) step(ctx context.Context) (int, error) {
	var wm, size uint64
	err := d.backend.View(ctx, func(tx confidant.SealedTx) (err error) {
		if wm, _, err = tx.DetectorState(ctx, d.cfg.Name); err != nil {
			return err
		}
		size, err = tx.LogSize(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("detect: reading the watermark: %w", err)
	}
	if wm > size {
		return 0, d.rollback(ctx, wm, size)
	}
	if !d.valid || d.next != wm {
		if err := d.rebuild(ctx, wm); err != nil {
			return 0, err
		}
	}
	if wm == size {
		return 0, nil
	}
	if err := d.refreshTokens(ctx, false); err != nil {
		return 0, err
	}
	evs, err := d.read(ctx, wm, d.cfg.Batch)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}
	alerts, err := d.process(ctx, evs)
	if err != nil {
		return 0, err
	}
	if len(alerts) > 0 {
		if err := d.cfg.Sink(ctx, alerts); err != nil {
			return 0, fmt.Errorf("detect: raising %d alerts: %w", len(alerts), err)
		}
	}
	d.lastRaised = len(alerts)
	end := evs[len(evs)-1].index + 1
	moved, err := d.advance(ctx, wm, end)
	if err != nil {
		return 0, err
	}
	if !moved {
		// Another server processed these events (with the same keys):
		// our state may now differ from storage's; rebuild next time.
		d.valid = false
		return len(evs), nil
	}
	d.next, d.valid = end, true
	d.processed += uint64(len(evs))
	return len(evs), nil
}

// advance moves the watermark from old to next with a conditional update.
func (d *Detector) advance(ctx context.Context, old, next uint64) (bool, error) {
	var moved bool
	err := d.backend.Update(ctx, func(tx confidant.SealedTx) (err error) {
		moved, err = tx.AdvanceDetector(ctx, d.cfg.Name, old, next, d.cfg.Clock().UTC())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("detect: advancing the watermark: %w", err)
	}
	return moved, nil
}

// rollback handles a stored watermark beyond the end of the log: the
// database (with its log) was restored from an older copy, or events were
// deleted. It raises a critical alert and resumes at the log's end: the
// events appended from now on have never been processed; the ones that
// were lost cannot be examined again (the alerts raised for them, if
// stored elsewhere, stay).
func (d *Detector) rollback(ctx context.Context, wm, size uint64) error {
	now := d.cfg.Clock().UTC()
	a := confidant.Alert{
		Rule: RuleRollback, Severity: confidant.AlertCritical,
		Explanation: fmt.Sprintf("The detector had examined the access log up to event %d, but the log now has only %d events: "+
			"the database was restored from an older copy or events were removed. Accesses recorded after the copy was made are no longer in the log. "+
			"The detector resumes at the end of the log. %s", wm, size, about(RuleRollback)),
		From: now, To: now, FirstIndex: size, LastIndex: wm - 1,
		Key: fmt.Sprintf("%s|%d|%d", RuleRollback, wm, size),
	}
	if err := d.cfg.Sink(ctx, []confidant.Alert{d.finish(a)}); err != nil {
		return fmt.Errorf("detect: raising the rollback alert: %w", err)
	}
	d.log.Error("the access log is shorter than the detector's watermark: the database was rolled back; a critical alert was raised",
		slog.Uint64("watermark", wm), slog.Uint64("size", size))
	if _, err := d.advance(ctx, wm, size); err != nil {
		return err
	}
	d.valid = false // the next step rebuilds from the stored watermark, whatever it is
	return nil
}

// RaiseIntegrity raises a critical integrity alert for the server's own
// checks (witness disagreement, failed verification, tile mismatch,
// records contradicting the log, ...): kind names the check, explanation
// says in plain words what was found (no patient, no name). The key is
// derived from the kind, the explanation and the day, so that a check
// failing the same way again that day raises nothing new.
func (d *Detector) RaiseIntegrity(ctx context.Context, kind, explanation string) error {
	now := d.cfg.Clock().UTC()
	h := sha256.Sum256([]byte(explanation))
	a := confidant.Alert{
		Rule: RuleIntegrity, Severity: confidant.AlertCritical, Explanation: explanation,
		From: now, To: now,
		Key: RuleIntegrity + "|" + kind + "|" + now.Format("2006-01-02") + "|" + hex.EncodeToString(h[:8]),
	}
	return d.cfg.Sink(ctx, []confidant.Alert{d.finish(a)})
}

// finish fills in what every alert has.
func (d *Detector) finish(a confidant.Alert) confidant.Alert {
	a.ID = confidant.NewID()
	a.CreatedAt = d.cfg.Clock().UTC()
	a.Status = confidant.AlertNew
	return a
}

// refreshTokens reads the honeytokens again when they are older than
// HoneytokenEvery or when force is set.
func (d *Detector) refreshTokens(ctx context.Context, force bool) error {
	if d.cfg.Honeytokens == nil {
		return nil
	}
	now := d.cfg.Clock()
	if !force && d.tokensOK && now.Sub(d.tokensAt) < d.cfg.HoneytokenEvery && !now.Before(d.tokensAt) {
		return nil
	}
	m, err := d.cfg.Honeytokens(ctx)
	if err != nil {
		d.tokensOK = false
		return fmt.Errorf("detect: reading the honeytokens: %w", err)
	}
	d.tokens, d.tokensAt, d.tokensOK = m, now, true
	return nil
}

// Processed returns the number of events this detector processed and
// committed the watermark for (not counting replays).
func (d *Detector) Processed() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.processed
}

// event is an access-log event as the rules see it (metadata only).
type event struct {
	index   uint64
	at      time.Time
	actor   string
	role    string
	clinic  string
	action  string
	patient string
	record  string
	outcome string
}

// read returns at most limit committed events from index from, read in
// one snapshot and never beyond the log's size in it.
func (d *Detector) read(ctx context.Context, from uint64, limit int) ([]event, error) {
	var out []event
	err := d.backend.View(ctx, func(tx confidant.SealedTx) error {
		size, err := tx.LogSize(ctx)
		if err != nil {
			return err
		}
		if from >= size {
			return nil
		}
		if uint64(limit) > size-from {
			limit = int(size - from)
		}
		out = make([]event, 0, limit)
		in := newInterner()
		return tx.ScanEvents(ctx, from, limit, func(r *confidant.EventRow) error {
			out = append(out, event{
				index: r.Index, at: r.Time, actor: in.str(r.ActorID), role: in.str(r.Role), clinic: in.str(r.ClinicID),
				action: in.str(r.Action), patient: in.str(r.PatientID), record: string(r.RecordID), outcome: in.str(r.Outcome),
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("detect: reading events from %d: %w", from, err)
	}
	for i, e := range out {
		if e.index != from+uint64(i) {
			return nil, fmt.Errorf("detect: the log returned event %d where %d was expected", e.index, from+uint64(i))
		}
	}
	return out, nil
}

// interner shares the strings of repeated ids within a batch.
type interner map[string]string

func newInterner() interner { return interner{} }

func (in interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// rebuild replays, without raising, the events before wm back to the
// longest window of any rule (at most RebuildMax events), so that the rule
// state is what it would be had this detector processed them.
func (d *Detector) rebuild(ctx context.Context, wm uint64) error {
	d.st = newState(&d.cfg.Rules)
	d.valid = false
	if wm > 0 {
		last, err := d.read(ctx, wm-1, 1)
		if err != nil {
			return err
		}
		if len(last) == 1 {
			horizon := last[0].at.Add(-d.cfg.Rules.longest())
			// Walk back in chunks until one lies wholly before the horizon.
			const chunk = 4096
			from := wm
			for from > 0 && wm-from < uint64(d.cfg.RebuildMax) {
				lo := uint64(0)
				if from > chunk {
					lo = from - chunk
				}
				evs, err := d.read(ctx, lo, int(from-lo))
				if err != nil {
					return err
				}
				before := true
				for _, e := range evs {
					if !e.at.Before(horizon) {
						before = false
						break
					}
				}
				if before {
					break
				}
				from = lo
			}
			for i := from; i < wm; {
				evs, err := d.read(ctx, i, d.cfg.Batch)
				if err != nil {
					return err
				}
				if len(evs) == 0 {
					break
				}
				for j := range evs {
					if evs[j].index >= wm {
						evs = evs[:j]
						break
					}
				}
				d.st.replay(evs)
				i += uint64(len(evs))
			}
		}
	}
	d.next, d.valid = wm, true
	return nil
}
