package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	confidant "github.com/confidanthealth/confidant"
	cmail "github.com/confidanthealth/confidant/internal/mail"
)

// Delivery (docs/INCIDENTS.md, "Recipients, delivery and the board
// digest"): a message is fanned out, inside the transaction that caused
// it, to one outbox row per recipient; a worker delivers the rows.
// Exactly once per recipient in storage (unique message key and
// recipient), at least once on the wire: a crash after sending and before
// marking sends the row again, with the same Message-ID (mail) or
// Confidant-Delivery id (webhooks), by which receivers de-duplicate.

// Notification is one message to every recipient of alerts.
type Notification struct {
	// Key makes queuing idempotent: a second Enqueue with the same key
	// adds nothing for a recipient that has it already.
	Key      string
	Subject  string // one line
	Text     string // plain text (mail); never a patient's name or id
	JSON     string // the webhook body (a JSON object); Text wrapped when empty
	Severity string
}

// Outbox timing: retries back off from outboxRetryMin, doubling, to
// outboxRetryMax (jittered by ±20%), forever.
const (
	outboxRetryMin   = 10 * time.Second
	outboxRetryMax   = time.Hour
	outboxLease      = 5 * time.Minute
	outboxBatch      = 4 // outboxBatch sends at their longest (outboxMailTime) fit in a lease
	webhookTimeout   = 10 * time.Second
	outboxMailTime   = 60 * time.Second
	maxNotification  = 64 << 10
	outboxListLimit  = 200
	deliveryHeaderID = "Confidant-Delivery"
	signatureHeader  = "Confidant-Signature"
)

// destination is one current recipient of alerts.
type destination struct {
	key     string // "user:<id>" or "recipient:<id>"
	channel confidant.RecipientKind
	to      string
	secret  string
}

// Receives reports whether a configured recipient receives messages. A
// verified recipient does while active or while its removal awaits
// approval. A row failing its MAC (reported as integrity.fact_forged by
// internal/seal) still does if its sealed address opens: the address was
// sealed for this row by Confidant, and a database writer who changed the
// status must not silence it (a forged "removed"). A row whose sealed
// address does not open cannot be delivered to.
func Receives(r confidant.Recipient) bool {
	if !r.Opened || r.Address == "" {
		return false
	}
	if !r.Verified {
		return true
	}
	return r.Status == confidant.RecipientActive || r.Status == confidant.RecipientRemoving
}

func recipientDestination(r confidant.Recipient) destination {
	return destination{key: "recipient:" + r.ID, channel: r.Kind, to: r.Address, secret: r.Secret}
}

// destinations returns every current recipient of alerts: each enabled
// security officer and data protection officer with an address, and the
// configured recipients that receive (Receives).
func (s *Service) destinations(ctx context.Context, tx confidant.Tx) ([]destination, error) {
	var out []destination
	for _, role := range []confidant.Role{confidant.RoleSecurity, confidant.RoleDPO} {
		us, err := tx.ListUsers(ctx, confidant.UserFilter{Role: role})
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Disabled || u.AwaitingApproval || u.Email == "" {
				continue
			}
			out = append(out, destination{key: "user:" + u.ID, channel: confidant.RecipientEmail, to: u.Email})
		}
	}
	rs, err := tx.ListRecipients(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if Receives(r) {
			out = append(out, recipientDestination(r))
		}
	}
	return out, nil
}

func checkNotification(m Notification) error {
	switch {
	case m.Key == "" || len(m.Key) > 200 || strings.ContainsAny(m.Key, "\r\n"):
		return confidant.Errorf(confidant.KindInvalid, "invalid_notification", "A notification needs a key of one line.")
	case strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n"):
		return confidant.Errorf(confidant.KindInvalid, "invalid_notification", "A notification needs a subject of one line.")
	case len(m.Text)+len(m.JSON) > maxNotification:
		return confidant.Errorf(confidant.KindInvalid, "invalid_notification", "The notification is too long.")
	case m.JSON != "" && !json.Valid([]byte(m.JSON)):
		return confidant.Errorf(confidant.KindInvalid, "invalid_notification", "The webhook body is not JSON.")
	}
	return nil
}

// Enqueue fans m out to every current recipient inside tx, the caller's
// transaction: the message is queued if and only if tx commits. A
// recipient that has m's key queued already is skipped.
func (s *Service) Enqueue(ctx context.Context, tx confidant.Tx, m Notification) error {
	ds, err := s.destinations(ctx, tx)
	if err != nil {
		return err
	}
	return s.enqueueTo(ctx, tx, m, ds)
}

func (s *Service) enqueueTo(ctx context.Context, tx confidant.Tx, m Notification, ds []destination) error {
	if err := checkNotification(m); err != nil {
		return err
	}
	if m.JSON == "" {
		b, _ := json.Marshal(map[string]string{"type": "notice", "key": m.Key, "subject": m.Subject, "text": m.Text, "severity": m.Severity})
		m.JSON = string(b)
	}
	if len(ds) == 0 {
		s.log.WarnContext(ctx, "a notification has no recipient: add security officers' addresses or recipients", slog.String("key", m.Key))
		return nil
	}
	now := s.clock()
	items := make([]confidant.OutboxItem, 0, len(ds))
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.key] {
			continue
		}
		seen[d.key] = true
		msg := confidant.OutboxMessage{To: d.to, Subject: m.Subject, Text: m.Text, Severity: m.Severity}
		if d.channel == confidant.RecipientWebhook {
			msg.Secret, msg.JSON, msg.Text = d.secret, m.JSON, ""
		}
		items = append(items, confidant.OutboxItem{ID: confidant.NewID(), MessageKey: m.Key, Recipient: d.key,
			Channel: d.channel, Message: msg, CreatedAt: now, NextAttemptAt: now})
	}
	return tx.EnqueueOutbox(ctx, items)
}

// AlertNotification is the notification of a detector's alert: the
// rule, severity, explanation, how many patients, the period and the log
// positions it covers, when it was raised and a link to the alert's page.
// It never names a patient: patients are a count.
func (s *Service) AlertNotification(a confidant.Alert) Notification {
	link := s.publicURL() + "/alerts/" + url.PathEscape(a.ID)
	utc := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	text := fmt.Sprintf(`Confidant raised an alert.

Rule:        %s
Severity:    %s
Why:         %s
Patients:    %d concerned (not named here)
Account:     %s
Events from: %s
Events to:   %s
Log entries: %d to %d
Raised:      %s
Alert:       %s

Look at the alert, decide and record what it is:

  %s

Every security officer, the data protection officer and the configured
recipients (the board contact among them) received this message.
`, a.Rule, a.Severity, oneLine(a.Explanation), len(a.PatientIDs), orDash(a.ActorID), utc(a.From), utc(a.To),
		a.FirstIndex, a.LastIndex, utc(a.CreatedAt), a.ID, link)
	body, _ := json.Marshal(struct {
		Type        string    `json:"type"`
		ID          string    `json:"id"`
		Rule        string    `json:"rule"`
		Severity    string    `json:"severity"`
		Explanation string    `json:"explanation"`
		Patients    int       `json:"patients"`
		Account     string    `json:"account,omitempty"`
		From        time.Time `json:"from"`
		To          time.Time `json:"to"`
		FirstIndex  uint64    `json:"first_index"`
		LastIndex   uint64    `json:"last_index"`
		CreatedAt   time.Time `json:"created_at"`
		Link        string    `json:"link"`
	}{"alert", a.ID, a.Rule, string(a.Severity), a.Explanation, len(a.PatientIDs), a.ActorID, a.From.UTC(), a.To.UTC(),
		a.FirstIndex, a.LastIndex, a.CreatedAt.UTC(), link})
	return Notification{
		Key:      "alert:" + a.ID,
		Subject:  fmt.Sprintf("Confidant alert (%s): %s", a.Severity, oneLine(a.Rule)),
		Text:     text,
		JSON:     string(body),
		Severity: string(a.Severity),
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RunOutbox delivers due outbox rows until ctx ends, polling every
// interval (default 5 s). Several servers may run it on one database: a
// row is leased to one worker at a time.
func (s *Service) RunOutbox(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "outbox delivery pass failed", slog.String("code", confidant.CodeOf(err)))
		}
		if s.digestEvery > 0 {
			if err := s.QueueBoardDigest(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "board digest not queued", slog.String("code", confidant.CodeOf(err)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeliverDue claims the rows due now (in batches), sends each and records
// the outcome: delivered, or failed with a short code and a next attempt
// after an exponential backoff. It returns how many were delivered and how
// many failed.
func (s *Service) DeliverDue(ctx context.Context) (delivered, failed int, err error) {
	for ctx.Err() == nil {
		now := s.clock()
		var items []confidant.OutboxItem
		err := s.store.Update(ctx, func(tx confidant.Tx) error {
			var err error
			items, err = tx.ClaimOutbox(ctx, s.worker, now, now.Add(outboxLease), outboxBatch)
			return err
		})
		if err != nil {
			return delivered, failed, err
		}
		if len(items) == 0 {
			return delivered, failed, nil
		}
		for _, it := range items {
			if s.clock().After(it.LeaseUntil.Add(-outboxMailTime)) {
				// Too little of the lease is left to send: leave the
				// rest of the batch to the next claim after it ends,
				// rather than send while another worker may.
				break
			}
			code := s.send(ctx, it)
			at := s.clock()
			err := s.store.Update(ctx, func(tx confidant.Tx) error {
				if code == "" {
					return tx.FinishOutbox(ctx, it.ID, s.worker, at)
				}
				return tx.FailOutbox(ctx, it.ID, s.worker, at.Add(backoff(it.Attempts)), code)
			})
			switch {
			case confidant.CodeOf(err) == "lease_lost":
				// Another worker took the row over after our lease ended;
				// it delivers it (again, with the same id).
				s.log.WarnContext(ctx, "outbox lease lost", slog.String("item", it.ID))
			case err != nil:
				return delivered, failed, err
			case code == "":
				delivered++
			default:
				failed++
				s.log.WarnContext(ctx, "outbox delivery failed", slog.String("item", it.ID), slog.String("code", code),
					slog.Int("attempts", it.Attempts+1))
			}
		}
	}
	return delivered, failed, ctx.Err()
}

// backoff is the delay before the next attempt after attempts earlier
// failures and this one: 10 s doubling to 1 h, ±20%.
func backoff(attempts int) time.Duration {
	d := outboxRetryMax
	if attempts < 20 {
		d = min(outboxRetryMin<<attempts, outboxRetryMax)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// send delivers one row and returns "" or a short error code (no personal
// data).
func (s *Service) send(ctx context.Context, it confidant.OutboxItem) string {
	if it.Message.To == "" {
		return "sealed_message_invalid"
	}
	switch it.Channel {
	case confidant.RecipientEmail:
		if s.mailer == nil {
			return "no_mailer"
		}
		mctx, cancel := context.WithTimeout(ctx, outboxMailTime)
		defer cancel()
		err := s.mailer.Send(mctx, cmail.Message{To: []string{it.Message.To}, Subject: it.Message.Subject, Text: it.Message.Text,
			MessageID: s.messageID(it.ID)})
		switch {
		case err == nil:
			return ""
		case confidant.IsKind(err, confidant.KindInvalid):
			return "mail_invalid"
		default:
			return "mail_unavailable"
		}
	case confidant.RecipientWebhook:
		return s.postWebhook(ctx, it)
	}
	return "unknown_channel"
}

// messageID is the stable Message-ID of an outbox row.
func (s *Service) messageID(itemID string) string {
	host := "confidant.invalid"
	if u, err := url.Parse(s.publicURL()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
		if strings.Contains(host, ":") { // an IPv6 literal
			host = "[" + host + "]"
		}
	}
	return "outbox." + itemID + "@" + host
}

// WebhookSignature is the value of the Confidant-Signature header of a
// webhook body sent at t: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<unix seconds>.<body>" under the secret>".
func WebhookSignature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a Confidant-Signature header against body and
// secret, and that it was made within tolerance of now (what a receiver
// does; also used by the tests).
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// newWebhookClient returns the client that posts webhooks: it follows no
// redirect, gives up after webhookTimeout, uses no proxy and connects only
// to public addresses (webhookDialControl) unless local webhooks are
// allowed (WithLocalWebhooks).
func newWebhookClient(local bool) *http.Client {
	d := &net.Dialer{Timeout: webhookTimeout}
	if !local {
		d.Control = webhookDialControl
	}
	return &http.Client{
		Timeout:       webhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: webhookTimeout,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// errWebhookAddress refuses a connection to a non-public address.
var errWebhookAddress = errors.New("webhook address not public")

// webhookDialControl refuses, at connection time (after the name is
// resolved, so a name that resolves to an inside address is refused
// too), connections to loopback, private (RFC 1918, unique local),
// link-local (cloud metadata at 169.254.169.254 included), unspecified,
// multicast and shared (RFC 6598) addresses: a webhook URL is written by
// security officers and the DPO, and must not make the server a way into
// the network it runs in (docs/INCIDENTS.md, "Recipients").
func webhookDialControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errWebhookAddress
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !publicAddr(ip) {
		return errWebhookAddress
	}
	return nil
}

var sharedAddrs = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether ip is a public unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() &&
		!ip.IsLinkLocalUnicast() && !ip.IsUnspecified() && !ip.IsMulticast() && !sharedAddrs.Contains(ip)
}

// postWebhook POSTs the row's JSON body, signed; a 2xx answer is
// delivered, the body of the answer is ignored.
func (s *Service) postWebhook(ctx context.Context, it confidant.OutboxItem) string {
	u, err := url.Parse(it.Message.To)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "webhook_url_invalid"
	}
	body := []byte(it.Message.JSON)
	hctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return "webhook_url_invalid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Confidant-Delivery/1")
	req.Header.Set(deliveryHeaderID, it.ID)
	req.Header.Set(signatureHeader, WebhookSignature(it.Message.Secret, s.clock(), body))
	resp, err := s.httpClient.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "webhook_timeout"
		}
		if errors.Is(err, errWebhookAddress) {
			return "webhook_address_not_public"
		}
		return "webhook_unreachable"
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "webhook_http_" + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// WithHTTPClient sets the client that posts webhooks (tests); it should
// follow no redirects. The default has a 10 s timeout and follows none.
func WithHTTPClient(c *http.Client) Option { return func(s *Service) { s.httpClient = c } }

// WithLocalWebhooks lets webhooks reach loopback, private and link-local
// addresses (a SIEM on the organisation's own network; tests). Without
// it only public addresses are connected to.
func WithLocalWebhooks() Option { return func(s *Service) { s.localWebhooks = true } }

// OutboxItemView is an outbox row as officers see it: no message, no
// address.
type OutboxItemView struct {
	ID            string    `json:"id"`
	MessageKey    string    `json:"message_key"`
	Recipient     string    `json:"recipient"`
	Channel       string    `json:"channel"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}
