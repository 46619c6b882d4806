package seal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The incident register (docs/INCIDENTS.md, docs/SECURITY.md "Incident
// register").
//
// An incident's body (title, alerts, frozen scope, Art. 33(3) fields,
// conclusion) and each history entry's details are sealed under the
// system keyset that also seals the second factors (TOTPKeyName), with
// associated data naming the incident ("incident/v1|<id>") or the entry
// ("incident-event/v1|<id>|<seq>"): a body or an entry copied to another
// incident or place does not open.
//
// The clocks and the status are in the clear (they are listed and
// counted), so they carry a MAC under the fact key (facts.go): the
// incident's MAC covers its id, status, who opened, awareness and closing
// with their times, the scope's checkpoint size, the number of history
// entries, the MAC of the last entry and a hash of the sealed body. Each
// history entry's MAC covers its place, time, author, kind, a hash of its
// sealed details and the MAC of the entry before, a chain: a database
// writer cannot change a clock, reopen or close an incident, roll its body
// back, or drop, change or reorder history entries without the next read
// failing as an integrity error (reported like a forged fact). Letters to
// patients are sealed under the patient's key (kind incident_letter).

var errIncidentIntegrity = fmt.Errorf("seal: incident: %w", errIntegrity)

var errIncidentChanged = confidant.Errorf(confidant.KindConflict, "incident_changed",
	"The incident was changed meanwhile; reload it and try again.")

// incidentBody is the sealed body of an incident. Field names are part of
// the stored format.
type incidentBody struct {
	Title        string                         `json:"t"`
	AlertIDs     []string                       `json:"a,omitempty"`
	Scope        confidant.IncidentScope        `json:"s"`
	Notification confidant.IncidentNotification `json:"n"`
	Conclusion   string                         `json:"c,omitempty"`
}

// incidentEventBody is the sealed part of a history entry.
type incidentEventBody struct {
	Text         string                          `json:"x,omitempty"`
	Time         string                          `json:"t,omitempty"` // RFC 3339, UTC
	Scope        *confidant.IncidentScope        `json:"s,omitempty"`
	Notification *confidant.IncidentNotification `json:"n,omitempty"`
	Phase        string                          `json:"p,omitempty"`
	PatientIDs   []string                        `json:"i,omitempty"`
	Count        int                             `json:"c,omitempty"`
}

// letterBody is the sealed part of a letter.
type letterBody struct {
	Texts []confidant.LetterText `json:"l"`
}

func incidentAD(id string) []byte { return []byte("incident/v1|" + id) }
func incidentEventAD(id string, seq int) []byte {
	return []byte("incident-event/v1|" + id + "|" + strconv.Itoa(seq))
}

func sealWith(a tink.AEAD, v any, ad []byte) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	ct, err := a.Encrypt(b, ad)
	if err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "seal_failed", "Encryption failed.")
	}
	return append([]byte{format}, ct...), nil
}

func openWith(a tink.AEAD, sealed []byte, v any, ad []byte) error {
	if len(sealed) < 2 || sealed[0] != format {
		return errIncidentIntegrity
	}
	b, err := a.Decrypt(sealed[1:], ad)
	if err != nil {
		return errIncidentIntegrity
	}
	return decodeJSON(b, v)
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func incidentFacts(r confidant.SealedIncident) []byte {
	return factMsg(confidant.FactIncidents, r.ID, string(r.Status), r.OpenedBy, factTime(r.OpenedAt), factTime(r.FirstAlertAt),
		factTime(r.AwarenessAt), r.AwarenessSetBy, factTime(r.ClosedAt), r.ClosedBy,
		strconv.FormatUint(r.ScopeSize, 10), strconv.Itoa(r.HistorySeq), hex.EncodeToString(r.HistoryMAC), hashHex(r.Data))
}

func incidentEventFacts(e confidant.SealedIncidentEvent, prev []byte) []byte {
	return factMsg(confidant.FactIncidentHistory, e.IncidentID+"|"+strconv.Itoa(e.Seq), factTime(e.At), e.By, e.Kind,
		hashHex(e.Data), hex.EncodeToString(prev))
}

// macOK checks mac against msg, reporting a mismatch like a forged fact.
func (t *tx) macOK(table, id string, msg, mac []byte) error {
	want, err := t.s.factMAC(msg)
	if err != nil {
		return err
	}
	if len(mac) == 0 || !hmac.Equal(want, mac) {
		t.s.reportForged(table, id)
		return errIncidentIntegrity
	}
	return nil
}

// sealIncident builds the row of i (whose Seq and history head are set by
// the caller) with its MAC.
func (t *tx) sealIncident(ctx context.Context, i confidant.Incident, headMAC []byte) (confidant.SealedIncident, error) {
	a, err := t.totpAEAD(ctx, true)
	if err != nil {
		return confidant.SealedIncident{}, err
	}
	data, err := sealWith(a, incidentBody{Title: i.Title, AlertIDs: i.AlertIDs, Scope: i.Scope, Notification: i.Notification,
		Conclusion: i.Conclusion}, incidentAD(i.ID))
	if err != nil {
		return confidant.SealedIncident{}, err
	}
	r := confidant.SealedIncident{
		ID: i.ID, Status: i.Status, OpenedBy: i.OpenedBy, OpenedAt: i.OpenedAt, FirstAlertAt: i.FirstAlertAt,
		AwarenessAt: i.AwarenessAt, AwarenessSetBy: i.AwarenessSetBy, ClosedAt: i.ClosedAt, ClosedBy: i.ClosedBy,
		ScopeSize: i.Scope.Checkpoint.Size, HistorySeq: i.Seq, HistoryMAC: headMAC, Data: data,
	}
	if r.FactMAC, err = t.s.factMAC(incidentFacts(r)); err != nil {
		return confidant.SealedIncident{}, err
	}
	return r, nil
}

// sealEvent builds history row ev (Seq set) chained to prev.
func (t *tx) sealEvent(ctx context.Context, ev confidant.IncidentEvent, prev []byte) (confidant.SealedIncidentEvent, error) {
	a, err := t.totpAEAD(ctx, true)
	if err != nil {
		return confidant.SealedIncidentEvent{}, err
	}
	b := incidentEventBody{Text: ev.Text, Scope: ev.Scope, Notification: ev.Notification, Phase: ev.Phase,
		PatientIDs: ev.PatientIDs, Count: ev.Count}
	if !ev.Time.IsZero() {
		b.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	data, err := sealWith(a, b, incidentEventAD(ev.IncidentID, ev.Seq))
	if err != nil {
		return confidant.SealedIncidentEvent{}, err
	}
	r := confidant.SealedIncidentEvent{IncidentID: ev.IncidentID, Seq: ev.Seq, At: ev.At, By: ev.By, Kind: ev.Kind, Data: data}
	if r.MAC, err = t.s.factMAC(incidentEventFacts(r, prev)); err != nil {
		return confidant.SealedIncidentEvent{}, err
	}
	return r, nil
}

func (t *tx) CreateIncident(ctx context.Context, i confidant.Incident, ev confidant.IncidentEvent) error {
	ev.IncidentID, ev.Seq = i.ID, 1
	se, err := t.sealEvent(ctx, ev, nil)
	if err != nil {
		return err
	}
	i.Seq = 1
	r, err := t.sealIncident(ctx, i, se.MAC)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreateIncident(ctx, r); err != nil {
		return err
	}
	return t.SealedTx.AppendIncidentEvent(ctx, se)
}

// storedIncident reads and authenticates an incident row.
func (t *tx) storedIncident(ctx context.Context, id string) (confidant.SealedIncident, error) {
	r, err := t.SealedTx.Incident(ctx, id)
	if err != nil {
		return r, err
	}
	return r, t.macOK(confidant.FactIncidents, r.ID, incidentFacts(r), r.FactMAC)
}

func (t *tx) UpdateIncident(ctx context.Context, i confidant.Incident, ev confidant.IncidentEvent) error {
	old, err := t.storedIncident(ctx, i.ID)
	if err != nil {
		return err
	}
	if old.HistorySeq != i.Seq {
		return errIncidentChanged
	}
	ev.IncidentID, ev.Seq = i.ID, old.HistorySeq+1
	se, err := t.sealEvent(ctx, ev, old.HistoryMAC)
	if err != nil {
		return err
	}
	i.Seq = ev.Seq
	r, err := t.sealIncident(ctx, i, se.MAC)
	if err != nil {
		return err
	}
	if err := t.SealedTx.AppendIncidentEvent(ctx, se); err != nil {
		return err
	}
	return t.SealedTx.UpdateIncident(ctx, r, old.HistorySeq)
}

func (t *tx) openIncident(ctx context.Context, r confidant.SealedIncident) (confidant.Incident, error) {
	if err := t.macOK(confidant.FactIncidents, r.ID, incidentFacts(r), r.FactMAC); err != nil {
		return confidant.Incident{}, err
	}
	a, err := t.totpAEAD(ctx, false)
	if err != nil {
		return confidant.Incident{}, err
	}
	var b incidentBody
	if err := openWith(a, r.Data, &b, incidentAD(r.ID)); err != nil {
		return confidant.Incident{}, err
	}
	if b.Scope.Checkpoint.Size != r.ScopeSize {
		return confidant.Incident{}, errIncidentIntegrity
	}
	return confidant.Incident{
		ID: r.ID, Status: r.Status, OpenedBy: r.OpenedBy, OpenedAt: r.OpenedAt, FirstAlertAt: r.FirstAlertAt,
		AwarenessAt: r.AwarenessAt, AwarenessSetBy: r.AwarenessSetBy, ClosedAt: r.ClosedAt, ClosedBy: r.ClosedBy,
		Seq: r.HistorySeq, Title: b.Title, AlertIDs: b.AlertIDs, Scope: b.Scope, Notification: b.Notification,
		Conclusion: b.Conclusion,
	}, nil
}

func (t *tx) Incident(ctx context.Context, id string) (confidant.Incident, error) {
	r, err := t.SealedTx.Incident(ctx, id)
	if err != nil {
		return confidant.Incident{}, err
	}
	return t.openIncident(ctx, r)
}

func (t *tx) ListIncidents(ctx context.Context, f confidant.IncidentFilter) ([]confidant.Incident, error) {
	rows, err := t.SealedTx.ListIncidents(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Incident, len(rows))
	for n, r := range rows {
		if out[n], err = t.openIncident(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// IncidentHistory returns the history after checking the chain from the
// first entry to the head the (authenticated) incident row names.
func (t *tx) IncidentHistory(ctx context.Context, id string) ([]confidant.IncidentEvent, error) {
	head, err := t.storedIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := t.SealedTx.IncidentEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(rows) != head.HistorySeq {
		t.s.reportForged(confidant.FactIncidentHistory, id)
		return nil, errIncidentIntegrity
	}
	a, err := t.totpAEAD(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.IncidentEvent, len(rows))
	var prev []byte
	for n, r := range rows {
		if r.Seq != n+1 || r.IncidentID != id {
			t.s.reportForged(confidant.FactIncidentHistory, id)
			return nil, errIncidentIntegrity
		}
		if err := t.macOK(confidant.FactIncidentHistory, id+"|"+strconv.Itoa(r.Seq), incidentEventFacts(r, prev), r.MAC); err != nil {
			return nil, err
		}
		prev = r.MAC
		var b incidentEventBody
		if err := openWith(a, r.Data, &b, incidentEventAD(id, r.Seq)); err != nil {
			return nil, err
		}
		ev := confidant.IncidentEvent{IncidentID: id, Seq: r.Seq, At: r.At, By: r.By, Kind: r.Kind, Text: b.Text,
			Scope: b.Scope, Notification: b.Notification, Phase: b.Phase, PatientIDs: b.PatientIDs, Count: b.Count}
		if b.Time != "" {
			if ev.Time, err = time.Parse(time.RFC3339Nano, b.Time); err != nil {
				return nil, errIncidentIntegrity
			}
		}
		out[n] = ev
	}
	if !hmac.Equal(prev, head.HistoryMAC) {
		t.s.reportForged(confidant.FactIncidentHistory, id)
		return nil, errIncidentIntegrity
	}
	return out, nil
}

// CreateIncidentLetter seals the letter under the patient's key.
func (t *tx) CreateIncidentLetter(ctx context.Context, l confidant.IncidentLetter) error {
	a, err := t.aead(ctx, l.PatientID)
	if err != nil {
		return err
	}
	data, err := sealJSON(a, letterBody{Texts: l.Texts}, confidant.BlobIncidentLetter, l.PatientID, l.ID, 0)
	if err != nil {
		return err
	}
	return t.SealedTx.CreateIncidentLetter(ctx, confidant.SealedIncidentLetter{
		ID: l.ID, IncidentID: l.IncidentID, PatientID: l.PatientID, Phase: l.Phase, CreatedAt: l.CreatedAt,
		CreatedBy: l.CreatedBy, Mailed: l.Mailed, Data: data,
	})
}

func (t *tx) openLetter(ctx context.Context, r confidant.SealedIncidentLetter) (confidant.IncidentLetter, error) {
	l := confidant.IncidentLetter{ID: r.ID, IncidentID: r.IncidentID, PatientID: r.PatientID, Phase: r.Phase,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, Mailed: r.Mailed}
	a, err := t.aead(ctx, r.PatientID)
	if confidant.CodeOf(err) == "patient_erased" {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	var b letterBody
	if err := openJSON(a, r.Data, &b, confidant.BlobIncidentLetter, r.PatientID, r.ID, 0); err != nil {
		return l, err
	}
	l.Texts = b.Texts
	return l, nil
}

func (t *tx) IncidentLetters(ctx context.Context, f confidant.IncidentLetterFilter) ([]confidant.IncidentLetter, error) {
	rows, err := t.SealedTx.IncidentLetters(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.IncidentLetter, len(rows))
	for n, r := range rows {
		if f.MetaOnly {
			out[n] = confidant.IncidentLetter{ID: r.ID, IncidentID: r.IncidentID, PatientID: r.PatientID, Phase: r.Phase,
				CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, Mailed: r.Mailed}
			continue
		}
		if out[n], err = t.openLetter(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
