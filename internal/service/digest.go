package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/policy"
)

// The board digest (docs/INCIDENTS.md, "Recipients, delivery and the
// board digest"): each period (a week by default) every recipient, the
// board contact among them, receives a digest signed with the access
// log's checkpoint key: the latest checkpoint, the alerts of the period
// by rule, the open incidents and their clocks. It is idempotent per
// period (its message key names the period). A digest that stops
// arriving is itself the signal.

// DigestIncident is an open incident and its running clock (e.g. the 72
// hours to tell the authority): ids and times only.
type DigestIncident struct {
	ID       string    `json:"id"`
	Clock    string    `json:"clock"`
	OpenedAt time.Time `json:"opened_at"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// DigestSource gives the digest its alerts and incidents (the detector's
// alert store and the incident register).
type DigestSource interface {
	// AlertCounts counts the alerts raised in [from, to) by rule.
	AlertCounts(ctx context.Context, from, to time.Time) (map[string]int, error)
	// OpenIncidents lists the incidents not closed, with their clocks.
	OpenIncidents(ctx context.Context) ([]DigestIncident, error)
}

// DigestSigner signs digests with the access log's checkpoint key
// (*audit.Log).
type DigestSigner interface {
	Checkpoint(ctx context.Context) (auditlog.Checkpoint, error)
	SignDigest(body string) ([]byte, error)
}

// WithBoardDigest sends a board digest every period (0: never) from src
// (nil: the digest says the alerts are not available), signed by signer
// (nil: the access log given to WithAuditor, when it can sign).
func WithBoardDigest(every time.Duration, src DigestSource, signer DigestSigner) Option {
	return func(s *Service) { s.digestEvery, s.digestSrc, s.digestSign = every, src, signer }
}

// WithStoredBoardDigest is WithBoardDigest with this service's own alert
// store and incident register as the source (StoredDigestSource).
func WithStoredBoardDigest(every time.Duration, signer DigestSigner) Option {
	return func(s *Service) { s.digestEvery, s.digestSrc, s.digestSign = every, storedDigest{s}, signer }
}

// BoardDigest is one period's digest; Signed is the signed note that
// `confidant audit verify-digest` checks.
type BoardDigest struct {
	From             time.Time        `json:"from"`
	To               time.Time        `json:"to"`
	Origin           string           `json:"origin"`
	CheckpointSize   uint64           `json:"checkpoint_size"`
	CheckpointRoot   string           `json:"checkpoint_root"` // base64, as in the checkpoint
	AlertsAvailable  bool             `json:"alerts_available"`
	Alerts           map[string]int   `json:"alerts"`
	Incidents        []DigestIncident `json:"incidents"`
	ActiveRecipients int              `json:"active_recipients"`
	Signed           string           `json:"signed"`
}

// digestPeriod is the last complete period before now.
func (s *Service) digestPeriod(now time.Time) (from, to time.Time) {
	every := s.digestEvery
	if every <= 0 {
		every = 7 * 24 * time.Hour
	}
	to = time.Unix(0, 0).UTC().Add(now.Sub(time.Unix(0, 0)) / every * every)
	return to.Add(-every), to
}

// token makes a value one word of a digest line.
func token(s string) string {
	s = strings.Join(strings.Fields(s), "_")
	if s == "" {
		return "-"
	}
	return s
}

// buildDigest gathers and signs the digest of [from, to).
func (s *Service) buildDigest(ctx context.Context, from, to time.Time) (BoardDigest, error) {
	signer := s.digestSign
	if signer == nil {
		// The access log signs (*audit.Log is both).
		signer, _ = s.audit.(DigestSigner)
	}
	if signer == nil {
		return BoardDigest{}, confidant.ErrNoAccessLog
	}
	d := BoardDigest{From: from, To: to, Alerts: map[string]int{}}
	cp, err := signer.Checkpoint(ctx)
	if err != nil {
		return BoardDigest{}, err
	}
	d.Origin, d.CheckpointSize, d.CheckpointRoot = cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:])
	if s.digestSrc != nil {
		if d.Alerts, err = s.digestSrc.AlertCounts(ctx, from, to); err != nil {
			return BoardDigest{}, err
		}
		if d.Incidents, err = s.digestSrc.OpenIncidents(ctx); err != nil {
			return BoardDigest{}, err
		}
		d.AlertsAvailable = true
	}
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		rs, err := tx.ListRecipients(ctx)
		n := 0
		for _, r := range rs {
			if Receives(r) {
				n++
			}
		}
		d.ActiveRecipients = n
		return err
	}); err != nil {
		return BoardDigest{}, err
	}
	var b strings.Builder
	rfc := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "period %s %s\n", rfc(from), rfc(to))
	fmt.Fprintf(&b, "checkpoint %s %d %s\n", token(d.Origin), d.CheckpointSize, d.CheckpointRoot)
	if d.AlertsAvailable {
		rules := slices.Sorted(func(yield func(string) bool) {
			for r := range d.Alerts {
				if !yield(r) {
					return
				}
			}
		})
		fmt.Fprintf(&b, "alerts %d rules\n", len(rules))
		for _, r := range rules {
			fmt.Fprintf(&b, "alert %s %d\n", token(r), d.Alerts[r])
		}
		fmt.Fprintf(&b, "incidents %d open\n", len(d.Incidents))
		for _, in := range d.Incidents {
			fmt.Fprintf(&b, "incident %s %s opened %s deadline %s\n", token(in.ID), token(in.Clock), rfc(in.OpenedAt), rfc(in.Deadline))
		}
	} else {
		b.WriteString("alerts unavailable\n")
	}
	fmt.Fprintf(&b, "recipients %d\n", d.ActiveRecipients)
	signed, err := signer.SignDigest(b.String())
	if err != nil {
		return BoardDigest{}, err
	}
	d.Signed = string(signed)
	return d, nil
}

// BoardDigest returns the digest of the last complete period, signed, as
// it was (or will be) sent.
func (s *Service) BoardDigest(ctx context.Context) (BoardDigest, error) {
	if _, err := need(ctx, policy.ReadBoardDigest); err != nil {
		return BoardDigest{}, s.wrote(ctx, ActBoardDigestRead, "", "", err)
	}
	from, to := s.digestPeriod(s.clock())
	d, err := s.buildDigest(ctx, from, to)
	if err != nil {
		return BoardDigest{}, err
	}
	if err := s.record(ctx, s.event(ctx, ActBoardDigestRead, "", "", confidant.OutcomeOK)); err != nil {
		return BoardDigest{}, err
	}
	return d, nil
}

// QueueBoardDigest queues the digest of the last complete period to
// every recipient, once per period (the message key names it).
func (s *Service) QueueBoardDigest(ctx context.Context) error {
	from, to := s.digestPeriod(s.clock())
	// The last period this process queued, so that the worker does not
	// sign a digest at each pass; storage decides (the message key is
	// unique per recipient).
	s.digestMu.Lock()
	done := s.digestLast.Equal(from)
	s.digestMu.Unlock()
	if done {
		return nil
	}
	d, err := s.buildDigest(ctx, from, to)
	if err != nil {
		return err
	}
	m := s.digestNotification(d)
	if err := s.store.Update(ctx, func(tx confidant.Tx) error { return s.Enqueue(ctx, tx, m) }); err != nil {
		return err
	}
	s.digestMu.Lock()
	s.digestLast = from
	s.digestMu.Unlock()
	return nil
}

func (s *Service) digestNotification(d BoardDigest) Notification {
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	var b strings.Builder
	fmt.Fprintf(&b, "Confidant's board digest for %s to %s.\n\n", day(d.From), day(d.To))
	fmt.Fprintf(&b, "Access log: %d entries (checkpoint of %s).\n", d.CheckpointSize, d.Origin)
	if d.AlertsAvailable {
		total := 0
		for _, n := range d.Alerts {
			total += n
		}
		fmt.Fprintf(&b, "Alerts in the period: %d.\nOpen incidents: %d.\n", total, len(d.Incidents))
	} else {
		b.WriteString("Alerts and incidents: not available on this server.\n")
	}
	fmt.Fprintf(&b, "Configured recipients receiving alerts: %d.\n\n", d.ActiveRecipients)
	b.WriteString(`This digest arrives every period. A digest that stops arriving is itself
the signal: if one is more than a day late, ask the data protection
officer and the security officers why, and do not accept "mail trouble"
without seeing the outbox (the /recipients page).

The signed digest follows. Save it, from its first line to its last, as
a file, and check its signature with the access log's public key:

  confidant audit verify-digest --key KEY FILE

`)
	b.WriteString(d.Signed)
	body, _ := json.Marshal(map[string]any{"type": "board_digest", "digest": d})
	return Notification{
		Key:      "board-digest:" + strconv.FormatInt(d.From.Unix(), 10),
		Subject:  "Confidant board digest " + d.From.UTC().Format("2006-01-02") + " to " + d.To.UTC().Format("2006-01-02"),
		Text:     b.String(),
		JSON:     string(body),
		Severity: "info",
	}
}
