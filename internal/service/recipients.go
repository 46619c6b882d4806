package service

import (
	"context"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Recipients of alerts (docs/INCIDENTS.md, "Recipients, delivery and the
// board digest"). Adding or removing a configured recipient takes two
// people: a security officer or the data protection officer proposes, a
// different one approves with their second factor. Every proposal and
// every approval is told to every recipient, old and new, through the
// outbox, so a change nobody expected is noticed by someone it did not
// remove.

// Actions recorded in the access log.
const (
	ActRecipientsList   = "recipients.list"    // an officer read the recipients or the outbox
	ActRecipientPropose = "recipients.propose" // a recipient's addition proposed; the record is the recipient
	ActRecipientRemove  = "recipients.remove"  // a recipient's removal proposed
	ActRecipientApprove = "recipients.approve" // a proposed change approved; the purpose says which
	ActBoardDigestRead  = "board_digest.read"  // an officer read the board digest
)

// Limits of recipients' fields.
const (
	maxRecipientAddress = 2048
	minWebhookSecret    = 16
	maxWebhookSecret    = 256
)

// RecipientView is a configured recipient as officers see it: the
// address, never the webhook secret. Verified false marks a row that
// failed its integrity check (it was changed in the database outside
// Confidant): it is still delivered to if its address opens, and it
// cannot be changed.
type RecipientView struct {
	ID               string    `json:"id"`
	Kind             string    `json:"kind"`
	Label            string    `json:"label"`
	Address          string    `json:"address"`
	Status           string    `json:"status"`
	Receives         bool      `json:"receives"`
	Verified         bool      `json:"verified"`
	ProposedBy       string    `json:"proposed_by"`
	ProposedAt       time.Time `json:"proposed_at"`
	ApprovedBy       string    `json:"approved_by,omitempty"`
	ApprovedAt       time.Time `json:"approved_at,omitzero"`
	RemoveProposedBy string    `json:"remove_proposed_by,omitempty"`
	RemoveProposedAt time.Time `json:"remove_proposed_at,omitzero"`
	RemovedBy        string    `json:"removed_by,omitempty"`
	RemovedAt        time.Time `json:"removed_at,omitzero"`
}

func recipientView(r confidant.Recipient) RecipientView {
	return RecipientView{
		ID: r.ID, Kind: string(r.Kind), Label: r.Label, Address: r.Address, Status: string(r.Status),
		Receives: Receives(r), Verified: r.Verified,
		ProposedBy: r.ProposedBy, ProposedAt: r.ProposedAt, ApprovedBy: r.ApprovedBy, ApprovedAt: r.ApprovedAt,
		RemoveProposedBy: r.RemoveProposedBy, RemoveProposedAt: r.RemoveProposedAt, RemovedBy: r.RemovedBy, RemovedAt: r.RemovedAt,
	}
}

// RecipientChange is a pending change: a recipient whose addition or
// removal awaits approval. Its id is the recipient's.
type RecipientChange struct {
	ID         string        `json:"id"`
	Change     string        `json:"change"` // "add" or "remove"
	ProposedBy string        `json:"proposed_by"`
	ProposedAt time.Time     `json:"proposed_at"`
	Recipient  RecipientView `json:"recipient"`
}

// Recipients returns the configured recipients, and the officers who
// receive alerts by mail (user keys) are not listed here (see the
// account list).
func (s *Service) Recipients(ctx context.Context) ([]RecipientView, error) {
	rs, err := s.listRecipients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RecipientView, len(rs))
	for i, r := range rs {
		out[i] = recipientView(r)
	}
	return out, nil
}

func (s *Service) listRecipients(ctx context.Context) ([]confidant.Recipient, error) {
	if _, err := need(ctx, policy.ListRecipients); err != nil {
		return nil, s.wrote(ctx, ActRecipientsList, "", "", err)
	}
	var rs []confidant.Recipient
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		rs, err = tx.ListRecipients(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.event(ctx, ActRecipientsList, "", "", confidant.OutcomeOK)); err != nil {
		return nil, err
	}
	return rs, nil
}

// RecipientChanges returns the changes awaiting approval.
func (s *Service) RecipientChanges(ctx context.Context) ([]RecipientChange, error) {
	rs, err := s.listRecipients(ctx)
	if err != nil {
		return nil, err
	}
	var out []RecipientChange
	for _, r := range rs {
		switch {
		case !r.Verified:
		case r.Status == confidant.RecipientPending:
			out = append(out, RecipientChange{ID: r.ID, Change: "add", ProposedBy: r.ProposedBy, ProposedAt: r.ProposedAt, Recipient: recipientView(r)})
		case r.Status == confidant.RecipientRemoving:
			out = append(out, RecipientChange{ID: r.ID, Change: "remove", ProposedBy: r.RemoveProposedBy, ProposedAt: r.RemoveProposedAt, Recipient: recipientView(r)})
		}
	}
	return out, nil
}

// checkRecipient validates a proposed recipient and returns it cleaned.
func checkRecipient(kind, label, address, secret string) (confidant.RecipientKind, string, string, error) {
	bad := func(code, msg string) (confidant.RecipientKind, string, string, error) {
		return "", "", "", confidant.Errorf(confidant.KindInvalid, code, "%s", msg)
	}
	switch label {
	case confidant.LabelBoard, confidant.LabelDPO, confidant.LabelSecurity, confidant.LabelOther:
	default:
		return bad("invalid_label", "The label is board, dpo, security or other.")
	}
	address = strings.TrimSpace(address)
	if address == "" || len(address) > maxRecipientAddress {
		return bad("invalid_address", "Give the recipient's address (at most 2048 characters).")
	}
	switch confidant.RecipientKind(kind) {
	case confidant.RecipientEmail:
		a, err := netmail.ParseAddress(address)
		if err != nil || a.Name != "" || a.Address != address || len(address) > 254 {
			return bad("invalid_address", "The e-mail address is not valid (only the address, like name@example.org).")
		}
		if secret != "" {
			return bad("invalid_secret", "An e-mail recipient has no secret.")
		}
	case confidant.RecipientWebhook:
		u, err := url.Parse(address)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			return bad("invalid_url", "The webhook URL must be http:// or https://, with a host, without a user or fragment.")
		}
		if len(secret) < minWebhookSecret || len(secret) > maxWebhookSecret || strings.ContainsAny(secret, "\r\n") {
			return bad("invalid_secret", "A webhook needs a secret of 16 to 256 characters, to sign what it receives.")
		}
	default:
		return bad("invalid_kind", "The kind is email or webhook.")
	}
	return confidant.RecipientKind(kind), label, address, nil
}

// ProposeRecipient proposes adding a recipient: kind "email" (address) or
// "webhook" (URL and a secret). It receives nothing until a different
// security officer or the data protection officer approves it. Every
// current recipient, and the proposed one, is told.
func (s *Service) ProposeRecipient(ctx context.Context, kind, label, address, secret string) (RecipientView, error) {
	a, err := need(ctx, policy.ProposeRecipient)
	if err != nil {
		return RecipientView{}, s.wrote(ctx, ActRecipientPropose, "", "", err)
	}
	k, label, address, err := checkRecipient(kind, label, address, secret)
	if err != nil {
		return RecipientView{}, err
	}
	id, now := confidant.NewID(), s.clock()
	r := confidant.Recipient{ID: id, Kind: k, Label: label, Address: address, Secret: secret, Status: confidant.RecipientPending,
		ProposedBy: a.UserID, ProposedAt: now, Verified: true, Opened: true}
	err = s.update(ctx, func(tx confidant.Tx) error {
		ds, err := s.destinations(ctx, tx)
		if err != nil {
			return err
		}
		if err := tx.CreateRecipient(ctx, r); err != nil {
			return err
		}
		m := s.changeNotice(r, "proposed", a.UserID, now)
		if err := s.enqueueTo(ctx, tx, m, append(ds, recipientDestination(r))); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActRecipientPropose, "", id)
	})
	if err != nil {
		return RecipientView{}, err
	}
	return recipientView(r), nil
}

// ProposeRecipientRemoval proposes removing an active recipient. It keeps
// receiving everything until the removal is approved.
func (s *Service) ProposeRecipientRemoval(ctx context.Context, id string) (RecipientView, error) {
	a, err := need(ctx, policy.ProposeRecipient)
	if err != nil {
		return RecipientView{}, s.wrote(ctx, ActRecipientRemove, "", id, err)
	}
	if err := checkID(id); err != nil {
		return RecipientView{}, err
	}
	now := s.clock()
	var r confidant.Recipient
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if r, err = tx.Recipient(ctx, id); err != nil {
			return err
		}
		if !r.Verified {
			return errRecipientForged
		}
		if r.Status != confidant.RecipientActive {
			return confidant.Errorf(confidant.KindConflict, "recipient_not_active", "Only an active recipient can be removed.")
		}
		ds, err := s.destinations(ctx, tx)
		if err != nil {
			return err
		}
		r.Status, r.RemoveProposedBy, r.RemoveProposedAt = confidant.RecipientRemoving, a.UserID, now
		if err := tx.UpdateRecipient(ctx, r, confidant.RecipientActive); err != nil {
			return err
		}
		if err := s.enqueueTo(ctx, tx, s.changeNotice(r, "proposed for removal", a.UserID, now), ds); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, ActRecipientRemove, "", id)
	})
	if err != nil {
		return RecipientView{}, err
	}
	return recipientView(r), nil
}

var (
	errRecipientForged = confidant.Errorf(confidant.KindConflict, "recipient_integrity",
		"This recipient failed its integrity check (it was changed outside Confidant) and cannot be changed. It still receives alerts; see the integrity alerts.")
	errApproveOwnChange = confidant.Errorf(confidant.KindPermission, "cannot_approve_own_change",
		"A change of recipients needs a second person: someone else must approve your proposal.")
	errNoPendingChange = confidant.Errorf(confidant.KindConflict, "no_pending_change", "This recipient has no change awaiting approval.")
)

// ApproveRecipientChange approves the pending change of recipient id (an
// addition or a removal) with the approver's second-factor code. The
// proposer cannot approve their own proposal. Every recipient, old and
// new, is told.
func (s *Service) ApproveRecipientChange(ctx context.Context, id, code string) (RecipientView, error) {
	a, err := need(ctx, policy.ApproveRecipient)
	if err != nil {
		return RecipientView{}, s.wrote(ctx, ActRecipientApprove, "", id, err)
	}
	if err := checkID(id); err != nil {
		return RecipientView{}, err
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return RecipientView{}, err
	}
	now := s.clock()
	var r confidant.Recipient
	var what string
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if r, err = tx.Recipient(ctx, id); err != nil {
			return err
		}
		if !r.Verified {
			return errRecipientForged
		}
		from := r.Status
		switch from {
		case confidant.RecipientPending:
			if r.ProposedBy == a.UserID {
				return errApproveOwnChange
			}
			r.Status, r.ApprovedBy, r.ApprovedAt, what = confidant.RecipientActive, a.UserID, now, "added"
		case confidant.RecipientRemoving:
			if r.RemoveProposedBy == a.UserID {
				return errApproveOwnChange
			}
			r.Status, r.RemovedBy, r.RemovedAt, what = confidant.RecipientRemoved, a.UserID, now, "removed"
		default:
			return errNoPendingChange
		}
		ds, err := s.destinations(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.stepUp(ctx, tx, a, code); err != nil {
			return err
		}
		if err := tx.UpdateRecipient(ctx, r, from); err != nil {
			return err
		}
		// Old and new: everyone who received before the change, and the
		// recipient concerned (an addition's first message).
		if err := s.enqueueTo(ctx, tx, s.changeNotice(r, what, a.UserID, now), append(ds, recipientDestination(r))); err != nil {
			return err
		}
		ev := s.event(ctx, ActRecipientApprove, "", id, confidant.OutcomeOK)
		ev.Purpose = "recipient " + what
		return tx.Audit(ev)
	})
	if isStepUpRefusal(err) {
		err = s.stepUpFailed(ctx, ActRecipientApprove, err)
	}
	if err := s.wrote(ctx, ActRecipientApprove, "", id, err); err != nil {
		return RecipientView{}, err
	}
	return recipientView(r), nil
}

// changeNotice tells every recipient of a change of recipients: which
// one, what happened, by whom (account id), when.
func (s *Service) changeNotice(r confidant.Recipient, what, by string, at time.Time) Notification {
	link := s.publicURL() + "/recipients"
	text := fmt.Sprintf(`A recipient of Confidant's alerts was %s.

Recipient: %s (%s, %s)
Address:   %s
By:        account %s
At:        %s
Status:    %s

Alerts go to every security officer, the data protection officer and the
configured recipients. A change takes two people: one proposes, another
approves. If you did not expect this change, tell the board contact and
the data protection officer at once. The recipients and pending changes:

  %s
`, what, r.ID, r.Kind, r.Label, displayAddress(r), by, at.UTC().Format("2006-01-02 15:04:05 UTC"), r.Status, link)
	return Notification{
		Key:      "recipient:" + r.ID + ":" + string(r.Status),
		Subject:  "Confidant: a recipient of alerts was " + what,
		Text:     text,
		Severity: string(confidant.AlertHigh),
	}
}

// displayAddress shows an e-mail address whole and a webhook's URL
// without its path or query (which may hold a token).
func displayAddress(r confidant.Recipient) string {
	if r.Kind != confidant.RecipientWebhook {
		return r.Address
	}
	u, err := url.Parse(r.Address)
	if err != nil {
		return "(a webhook)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// Outbox returns the outbox's rows of status ("pending", "failed",
// "delivered" or "" for all), newest first, at most 200: who (recipient
// key), which message, attempts and the last error.
func (s *Service) Outbox(ctx context.Context, status string) ([]OutboxItemView, error) {
	if _, err := need(ctx, policy.ListRecipients); err != nil {
		return nil, s.wrote(ctx, ActRecipientsList, "", "", err)
	}
	st := confidant.OutboxStatus(status)
	switch st {
	case "", confidant.OutboxPending, confidant.OutboxFailed, confidant.OutboxDelivered:
	default:
		return nil, confidant.Errorf(confidant.KindInvalid, "invalid_status", "The status is pending, failed or delivered.")
	}
	var items []confidant.OutboxItem
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		items, err = tx.ListOutbox(ctx, confidant.OutboxFilter{Status: st, Limit: outboxListLimit})
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.event(ctx, ActRecipientsList, "", "", confidant.OutcomeOK)); err != nil {
		return nil, err
	}
	out := make([]OutboxItemView, len(items))
	for i, it := range items {
		v := OutboxItemView{ID: it.ID, MessageKey: it.MessageKey, Recipient: it.Recipient, Channel: string(it.Channel),
			CreatedAt: it.CreatedAt, Attempts: it.Attempts, DeliveredAt: it.DeliveredAt, LastError: it.LastError}
		switch {
		case !it.DeliveredAt.IsZero():
			v.Status = string(confidant.OutboxDelivered)
		case it.Attempts > 0:
			v.Status, v.NextAttemptAt = string(confidant.OutboxFailed), it.NextAttemptAt
		default:
			v.Status, v.NextAttemptAt = string(confidant.OutboxPending), it.NextAttemptAt
		}
		out[i] = v
	}
	return out, nil
}
