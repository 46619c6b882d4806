package seal

import (
	"context"
	"encoding/json"
	"fmt"

	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Recipients of alerts and the outbox (docs/INCIDENTS.md, "Recipients,
// delivery and the board digest").
//
// A recipient's address (or URL) and webhook secret, and every outbox
// message with its destination, are sealed under the system keyset
// DeliveryKeyName (a Tink AEAD keyset wrapped by the KEK like a
// patient's), bound to the row: "delivery/v1|recipient|<id>" or
// "delivery/v1|outbox|<id>", so a sealed value copied to another row
// fails to open. A recipient's other columns are authorization facts
// (FactRecipients) under a MAC, like accounts' (facts.go).

// DeliveryKeyName is the system key of the delivery keyset.
const DeliveryKeyName = "~delivery"

func deliveryAD(table, id string) []byte { return []byte("delivery/v1|" + table + "|" + id) }

// recipientData is the sealed part of a recipient. Field names are part
// of the stored format.
type recipientData struct {
	Address string `json:"a"`
	Secret  string `json:"s,omitempty"`
}

// recipientFacts are the MAC'd columns of a recipient.
func recipientFacts(r confidant.SealedRecipient) []byte {
	return factMsg(confidant.FactRecipients, r.ID, string(r.Kind), r.Label, string(r.Status),
		r.ProposedBy, factTime(r.ProposedAt), r.ApprovedBy, factTime(r.ApprovedAt),
		r.RemoveProposedBy, factTime(r.RemoveProposedAt), r.RemovedBy, factTime(r.RemovedAt))
}

// keysetAEAD returns the system keyset name; create makes it in a write
// when it does not exist yet (a database prepared before it existed).
func (t *tx) keysetAEAD(ctx context.Context, name string, create bool) (tink.AEAD, error) {
	if a, ok := t.aeads[name]; ok {
		return a, nil
	}
	wk, err := t.SealedTx.SystemKey(ctx, name)
	var a tink.AEAD
	switch {
	case confidant.IsKind(err, confidant.KindNotFound) && create:
		if wk, a, err = t.s.keys.NewPatientKey(name); err != nil {
			return nil, err
		}
		if err := t.SealedTx.PutSystemKey(ctx, wk); err != nil {
			return nil, err
		}
	case confidant.IsKind(err, confidant.KindNotFound):
		return nil, confidant.Errorf(confidant.KindInternal, "delivery_key_missing", "The key that protects recipients and the outbox is missing.")
	case err != nil:
		return nil, err
	default:
		if a, err = t.s.keys.PatientAEAD(wk); err != nil {
			return nil, err
		}
	}
	t.aeads[name] = a
	return a, nil
}

// prepareKeyset makes sure the system keyset name exists.
func prepareKeyset(ctx context.Context, backend confidant.SealedStore, k IndexKeyring, name string) error {
	return backend.Update(ctx, func(tx confidant.SealedTx) error {
		_, err := tx.SystemKey(ctx, name)
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		wk, _, err := k.NewPatientKey(name)
		if err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, wk)
	})
}

func sealDelivery(a tink.AEAD, v any, table, id string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	ct, err := a.Encrypt(b, deliveryAD(table, id))
	clear(b)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	return append([]byte{format}, ct...), nil
}

// openDelivery opens a value sealed by sealDelivery for (table, id) into
// v, strictly; anything else is an integrity error. It never panics.
func openDelivery(a tink.AEAD, sealed []byte, v any, table, id string) error {
	if len(sealed) < 2 || sealed[0] != format {
		return fmt.Errorf("seal: %s %s: unknown format: %w", table, id, errIntegrity)
	}
	pt, err := a.Decrypt(sealed[1:], deliveryAD(table, id))
	if err != nil {
		return fmt.Errorf("seal: %s %s: %w", table, id, errIntegrity)
	}
	return decodeJSON(pt, v)
}

func sealedRecipient(r confidant.Recipient) confidant.SealedRecipient {
	return confidant.SealedRecipient{
		ID: r.ID, Kind: r.Kind, Label: r.Label, Status: r.Status,
		ProposedBy: r.ProposedBy, ProposedAt: r.ProposedAt, ApprovedBy: r.ApprovedBy, ApprovedAt: r.ApprovedAt,
		RemoveProposedBy: r.RemoveProposedBy, RemoveProposedAt: r.RemoveProposedAt, RemovedBy: r.RemovedBy, RemovedAt: r.RemovedAt,
	}
}

// CreateRecipient seals the address and secret and authenticates the row.
func (t *tx) CreateRecipient(ctx context.Context, r confidant.Recipient) error {
	a, err := t.keysetAEAD(ctx, DeliveryKeyName, true)
	if err != nil {
		return err
	}
	sr := sealedRecipient(r)
	if sr.Data, err = sealDelivery(a, recipientData{Address: r.Address, Secret: r.Secret}, "recipient", r.ID); err != nil {
		return err
	}
	if sr.FactMAC, err = t.s.factMAC(recipientFacts(sr)); err != nil {
		return err
	}
	return t.SealedTx.CreateRecipient(ctx, sr)
}

// openRecipient opens a row. A row failing its MAC is reported (once per
// process) and returned with Verified false; a sealed value that does not
// open leaves Address empty and Opened false. Neither is an error: the
// service decides (docs/INCIDENTS.md).
func (t *tx) openRecipient(ctx context.Context, sr confidant.SealedRecipient) (confidant.Recipient, error) {
	r := confidant.Recipient{
		ID: sr.ID, Kind: sr.Kind, Label: sr.Label, Status: sr.Status,
		ProposedBy: sr.ProposedBy, ProposedAt: sr.ProposedAt, ApprovedBy: sr.ApprovedBy, ApprovedAt: sr.ApprovedAt,
		RemoveProposedBy: sr.RemoveProposedBy, RemoveProposedAt: sr.RemoveProposedAt, RemovedBy: sr.RemovedBy, RemovedAt: sr.RemovedAt,
	}
	ok, err := t.s.factOK(confidant.FactRecipients, sr.ID, recipientFacts(sr), sr.FactMAC)
	if err != nil {
		return r, err
	}
	r.Verified = ok
	a, err := t.keysetAEAD(ctx, DeliveryKeyName, false)
	if err != nil {
		return r, err
	}
	var d recipientData
	if err := openDelivery(a, sr.Data, &d, "recipient", sr.ID); err != nil {
		if !IsIntegrityError(err) {
			return r, err
		}
		t.s.reportForged(confidant.FactRecipients, sr.ID)
		return r, nil
	}
	r.Address, r.Secret, r.Opened = d.Address, d.Secret, true
	return r, nil
}

func (t *tx) Recipient(ctx context.Context, id string) (confidant.Recipient, error) {
	sr, err := t.SealedTx.Recipient(ctx, id)
	if err != nil {
		return confidant.Recipient{}, err
	}
	return t.openRecipient(ctx, sr)
}

func (t *tx) ListRecipients(ctx context.Context) ([]confidant.Recipient, error) {
	rows, err := t.SealedTx.ListRecipients(ctx)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	out := make([]confidant.Recipient, len(rows))
	for i, sr := range rows {
		if out[i], err = t.openRecipient(ctx, sr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateRecipient authenticates and stores r's status and change columns
// (the address is never changed: a new address is a new recipient).
func (t *tx) UpdateRecipient(ctx context.Context, r confidant.Recipient, from confidant.RecipientStatus) error {
	sr := sealedRecipient(r)
	var err error
	if sr.FactMAC, err = t.s.factMAC(recipientFacts(sr)); err != nil {
		return err
	}
	return t.SealedTx.UpdateRecipient(ctx, sr, from)
}

// EnqueueOutbox seals each message to its row.
func (t *tx) EnqueueOutbox(ctx context.Context, items []confidant.OutboxItem) error {
	if len(items) == 0 {
		return nil
	}
	a, err := t.keysetAEAD(ctx, DeliveryKeyName, true)
	if err != nil {
		return err
	}
	rows := make([]confidant.SealedOutboxItem, len(items))
	for i, o := range items {
		rows[i] = confidant.SealedOutboxItem{ID: o.ID, MessageKey: o.MessageKey, Recipient: o.Recipient, Channel: o.Channel,
			CreatedAt: o.CreatedAt, NextAttemptAt: o.NextAttemptAt}
		if rows[i].Data, err = sealDelivery(a, o.Message, "outbox", o.ID); err != nil {
			return err
		}
	}
	return t.SealedTx.EnqueueOutbox(ctx, rows)
}

func outboxItem(r confidant.SealedOutboxItem) confidant.OutboxItem {
	return confidant.OutboxItem{ID: r.ID, MessageKey: r.MessageKey, Recipient: r.Recipient, Channel: r.Channel,
		CreatedAt: r.CreatedAt, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LeaseOwner: r.LeaseOwner,
		LeaseUntil: r.LeaseUntil, DeliveredAt: r.DeliveredAt, LastError: r.LastError}
}

// ErrOutboxSealed is the error code of a claimed item whose message does
// not open (altered or moved in the database): it is returned with an
// empty message and LastError set to this code, for the worker to record
// as a failure.
const ErrOutboxSealed = "sealed_message_invalid"

// ClaimOutbox leases due items and opens their messages.
func (t *tx) ClaimOutbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]confidant.OutboxItem, error) {
	rows, err := t.SealedTx.ClaimOutbox(ctx, owner, now, until, limit)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	a, err := t.keysetAEAD(ctx, DeliveryKeyName, false)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.OutboxItem, len(rows))
	for i, r := range rows {
		out[i] = outboxItem(r)
		if err := openDelivery(a, r.Data, &out[i].Message, "outbox", r.ID); err != nil {
			if !IsIntegrityError(err) {
				return nil, err
			}
			out[i].Message = confidant.OutboxMessage{}
			out[i].LastError = ErrOutboxSealed
		}
	}
	return out, nil
}

// ListOutbox returns items without their messages.
func (t *tx) ListOutbox(ctx context.Context, f confidant.OutboxFilter) ([]confidant.OutboxItem, error) {
	rows, err := t.SealedTx.ListOutbox(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.OutboxItem, len(rows))
	for i, r := range rows {
		out[i] = outboxItem(r)
	}
	return out, nil
}

// WarmOutbox opens the outbox's keyset now, so that a function that will
// queue messages after its writes does its only read of the keyset first
// (a read after a write cannot be staged; internal/audit).
func (t *tx) WarmOutbox(ctx context.Context) error {
	_, err := t.keysetAEAD(ctx, DeliveryKeyName, false)
	return err
}
