package confidant

import (
	"context"
	"time"
)

// Delivery of alerts, incident notices and letters (docs/INCIDENTS.md,
// "Recipients, delivery and the board digest"): configured recipients,
// changed only by two people, and a durable outbox delivered exactly once
// per recipient in storage (at least once on the wire, with an
// idempotency id).

// RecipientKind is how a configured recipient is reached.
type RecipientKind string

// Recipient kinds.
const (
	RecipientEmail   RecipientKind = "email"
	RecipientWebhook RecipientKind = "webhook"
)

// Recipient labels: who a configured recipient is.
const (
	LabelBoard    = "board"
	LabelDPO      = "dpo"
	LabelSecurity = "security"
	LabelOther    = "other"
)

// RecipientStatus is where a configured recipient stands. A recipient has
// at most one pending change at a time, whose id is the recipient's id:
// pending (its addition awaits a second person's approval), active,
// removing (its removal awaits approval; it still receives everything),
// removed.
type RecipientStatus string

// Recipient statuses.
const (
	RecipientPending  RecipientStatus = "pending"
	RecipientActive   RecipientStatus = "active"
	RecipientRemoving RecipientStatus = "removing"
	RecipientRemoved  RecipientStatus = "removed"
)

// Recipient is a configured recipient of alerts: the board contact, a
// webhook, another address. Address (an e-mail address or an http(s)
// URL) and Secret (a webhook's HMAC key) are sealed at rest under a
// system key, bound to the row's id; the rest is metadata, authenticated
// by a MAC (FactRecipients).
type Recipient struct {
	ID      string
	Kind    RecipientKind
	Label   string
	Address string // sealed
	Secret  string // sealed; webhooks only
	Status  RecipientStatus

	ProposedBy       string
	ProposedAt       time.Time
	ApprovedBy       string
	ApprovedAt       time.Time
	RemoveProposedBy string
	RemoveProposedAt time.Time
	RemovedBy        string
	RemovedAt        time.Time

	// Verified is set by internal/seal on reading: the row's MAC is
	// right. A row failing it is reported (integrity.fact_forged) and
	// returned with Verified false; the service decides what it means.
	Verified bool `json:"-"`
	// Opened: the sealed address opened (it was written for this row by
	// Confidant). False for a row whose sealed value fails.
	Opened bool `json:"-"`
}

// SealedRecipient is a recipient row: Data seals the address and the
// secret; FactMAC authenticates the other columns.
type SealedRecipient struct {
	ID               string
	Kind             RecipientKind
	Label            string
	Status           RecipientStatus
	ProposedBy       string
	ProposedAt       time.Time
	ApprovedBy       string
	ApprovedAt       time.Time
	RemoveProposedBy string
	RemoveProposedAt time.Time
	RemovedBy        string
	RemovedAt        time.Time
	Data             []byte
	FactMAC          []byte
}

// OutboxStatus selects outbox rows.
type OutboxStatus string

// Outbox statuses: pending (never tried, or due again), failed (tried at
// least once, not yet delivered), delivered.
const (
	OutboxPending   OutboxStatus = "pending"
	OutboxFailed    OutboxStatus = "failed"
	OutboxDelivered OutboxStatus = "delivered"
)

// OutboxMessage is what an outbox row delivers (sealed at rest under a
// system key, bound to the row's id): the destination as it was when the
// message was queued, and the message.
type OutboxMessage struct {
	To       string `json:"to"`               // e-mail address or URL
	Secret   string `json:"secret,omitempty"` // webhook HMAC key
	Subject  string `json:"subject"`
	Text     string `json:"text"`
	JSON     string `json:"json,omitempty"` // webhook body
	Severity string `json:"severity,omitempty"`
}

// OutboxItem is one message to one recipient. MessageKey and Recipient
// (a stable key: "user:<id>" or "recipient:<id>") are unique together.
// LastError is a short code, never personal data.
type OutboxItem struct {
	ID            string
	MessageKey    string
	Recipient     string
	Channel       RecipientKind
	Message       OutboxMessage `json:"-"` // sealed; opened only for delivery
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	LeaseOwner    string
	LeaseUntil    time.Time
	DeliveredAt   time.Time
	LastError     string
}

// SealedOutboxItem is an outbox row with its message sealed in Data.
type SealedOutboxItem struct {
	ID            string
	MessageKey    string
	Recipient     string
	Channel       RecipientKind
	Data          []byte
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	LeaseOwner    string
	LeaseUntil    time.Time
	DeliveredAt   time.Time
	LastError     string
}

// OutboxFilter selects outbox rows, newest first. Zero fields do not
// filter.
type OutboxFilter struct {
	Status OutboxStatus
	Limit  int // 0: no limit
}

// FactRecipients is the fact table of configured recipients.
const FactRecipients = "recipients"

// DeliveryTx is the part of Tx for recipients and the outbox.
type DeliveryTx interface {
	// CreateRecipient seals and stores a recipient (KindConflict for an
	// existing id).
	CreateRecipient(ctx context.Context, r Recipient) error
	// Recipient returns a recipient (see Recipient.Verified);
	// KindNotFound for none.
	Recipient(ctx context.Context, id string) (Recipient, error)
	// ListRecipients returns every recipient, oldest first.
	ListRecipients(ctx context.Context) ([]Recipient, error)
	// UpdateRecipient stores r's status and change columns, in one
	// conditional update: KindConflict "recipient_changed" unless the
	// stored status is from.
	UpdateRecipient(ctx context.Context, r Recipient, from RecipientStatus) error

	// EnqueueOutbox seals and stores items; an item whose (MessageKey,
	// Recipient) is queued already is skipped.
	EnqueueOutbox(ctx context.Context, items []OutboxItem) error
	// ClaimOutbox leases up to limit undelivered items due at now (whose
	// lease, if any, ended) to owner until `until`, in one conditional
	// update each, and returns them with their messages opened: two
	// workers never hold one item at once.
	ClaimOutbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]OutboxItem, error)
	// FinishOutbox marks an item delivered at `at`: KindConflict
	// "lease_lost" unless owner holds its lease and it is undelivered.
	FinishOutbox(ctx context.Context, id, owner string, at time.Time) error
	// FailOutbox counts a failed attempt, records the error code, ends
	// the lease and makes the item due again at next: KindConflict
	// "lease_lost" unless owner holds its lease.
	FailOutbox(ctx context.Context, id, owner string, next time.Time, code string) error
	// ListOutbox returns items matching f, newest first, without their
	// messages.
	ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error)
}

// SealedDeliveryTx is DeliveryTx of a SealedStore.
type SealedDeliveryTx interface {
	CreateRecipient(ctx context.Context, r SealedRecipient) error
	Recipient(ctx context.Context, id string) (SealedRecipient, error)
	ListRecipients(ctx context.Context) ([]SealedRecipient, error)
	UpdateRecipient(ctx context.Context, r SealedRecipient, from RecipientStatus) error
	EnqueueOutbox(ctx context.Context, items []SealedOutboxItem) error
	ClaimOutbox(ctx context.Context, owner string, now, until time.Time, limit int) ([]SealedOutboxItem, error)
	FinishOutbox(ctx context.Context, id, owner string, at time.Time) error
	FailOutbox(ctx context.Context, id, owner string, next time.Time, code string) error
	ListOutbox(ctx context.Context, f OutboxFilter) ([]SealedOutboxItem, error)
}
