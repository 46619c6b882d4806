package seal

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"slices"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Alerts and honeytokens (docs/SECURITY.md, "Alerts and honeytokens").
//
// An alert's patients, explanation and dismissal reason are sealed under
// the alerts keyset (AlertsKeyName: a Tink keyset wrapped by the KEK like
// a patient's), bound to the alert's id; its metadata carries a MAC under
// the fact key (facts.go), bound to the table and the id. A database
// writer who changes an alert (say, marks it dismissed) cannot make the
// MAC match: the alert is then returned with Tampered set, and reported
// like a forged authorization fact, never hidden.
//
// A honeytoken row holds a tag, the blind index (keyed HMAC-SHA-256, 256
// bits) of the decoy patient's id under the blind-index key, for the
// detector's membership test; the id itself sealed under the alerts
// keyset; and a MAC. The database alone tells neither which patients are
// decoys nor lets a writer make a real patient one.

// AlertsKeyName is the system key holding the keyset that seals alerts
// and honeytokens ("~" cannot start a patient id).
const AlertsKeyName = "~alerts"

// Kinds in the associated data of sealed alerts and honeytokens (they are
// no patient's blobs).
const (
	kindAlert      confidant.BlobKind = "alert"
	kindHoneytoken confidant.BlobKind = "honeytoken"
)

// Blind-index table and field of honeytoken tags.
const (
	honeytokenTable = "honeytokens"
	honeytokenField = "patient_id"
	honeytokenBits  = 256
)

var (
	errAlertTampered = confidant.Errorf(confidant.KindConflict, "alert_tampered",
		"This alert failed its integrity check: it was changed outside the application and cannot be changed further; report it.")
	errAlertsKeyMissing = confidant.Errorf(confidant.KindInternal, "alerts_key_missing",
		"The key that protects alerts is missing.")
)

// alertData is the sealed part of an alert.
type alertData struct {
	PatientIDs  []string `json:"patient_ids"`
	Explanation string   `json:"explanation"`
	Reason      string   `json:"reason,omitempty"`
}

// honeytokenData is the sealed part of a honeytoken.
type honeytokenData struct {
	PatientID string `json:"patient_id"`
}

// openAlertData opens the sealed part of alert id: anything but a value
// sealed for that alert is an integrity error.
func openAlertData(a tink.AEAD, sealed []byte, id string) (alertData, error) {
	var d alertData
	err := openJSON(a, sealed, &d, kindAlert, AlertsKeyName, id, 0)
	return d, err
}

// openHoneytokenData opens the sealed patient id of honeytoken id; the id
// must be one (else an integrity error).
func openHoneytokenData(a tink.AEAD, sealed []byte, id string) (honeytokenData, error) {
	var d honeytokenData
	if err := openJSON(a, sealed, &d, kindHoneytoken, AlertsKeyName, id, 0); err != nil {
		return d, err
	}
	if !confidant.ValidID(d.PatientID) {
		return honeytokenData{}, fmt.Errorf("seal: honeytoken %s: not a patient id: %w", id, errIntegrity)
	}
	return d, nil
}

// alertsAEAD returns the alerts keyset; create makes it when it does not
// exist (a database prepared before alerts existed).
func (t *tx) alertsAEAD(ctx context.Context, create bool) (tink.AEAD, error) {
	if a, ok := t.aeads[AlertsKeyName]; ok {
		return a, nil
	}
	wk, err := t.SealedTx.SystemKey(ctx, AlertsKeyName)
	var a tink.AEAD
	switch {
	case confidant.IsKind(err, confidant.KindNotFound) && create:
		if wk, a, err = t.s.keys.NewPatientKey(AlertsKeyName); err != nil {
			return nil, err
		}
		if err := t.SealedTx.PutSystemKey(ctx, wk); err != nil {
			return nil, err
		}
	case confidant.IsKind(err, confidant.KindNotFound):
		return nil, errAlertsKeyMissing
	case err != nil:
		return nil, err
	default:
		if a, err = t.s.keys.PatientAEAD(wk); err != nil {
			return nil, err
		}
	}
	t.aeads[AlertsKeyName] = a
	return a, nil
}

// alertFacts is the authenticated metadata of an alert.
func alertFacts(a confidant.SealedAlert) []byte {
	return factMsg(confidant.FactAlerts, a.ID, a.Rule, string(a.Severity), a.ActorID, a.ClinicID, a.Key,
		string(a.Status), a.DecidedBy, factTime(a.DecidedAt), a.IncidentID, factTime(a.CreatedAt))
}

// honeytokenFacts is the authenticated metadata of a honeytoken.
func honeytokenFacts(h confidant.SealedHoneytoken) []byte {
	return factMsg(confidant.FactHoneytokens, h.ID, hex.EncodeToString(h.Tag), h.ClinicID, h.CreatedBy, factTime(h.CreatedAt))
}

func (t *tx) CreateAlert(ctx context.Context, a confidant.Alert) (bool, error) {
	if !confidant.ValidID(a.ID) || a.Key == "" || a.Rule == "" || !a.Severity.Valid() || !a.Status.Valid() {
		return false, confidant.Errorf(confidant.KindInvalid, "invalid_alert", "An alert needs an id, a key, a rule, a severity and a status.")
	}
	ae, err := t.alertsAEAD(ctx, true)
	if err != nil {
		return false, err
	}
	d := alertData{PatientIDs: slices.Clone(a.PatientIDs), Explanation: a.Explanation, Reason: a.Reason}
	if d.PatientIDs == nil {
		d.PatientIDs = []string{}
	}
	data, err := sealJSON(ae, d, kindAlert, AlertsKeyName, a.ID, 0)
	if err != nil {
		return false, err
	}
	sa := confidant.SealedAlert{
		ID: a.ID, Rule: a.Rule, Severity: a.Severity, ActorID: a.ActorID, ClinicID: a.ClinicID, Key: a.Key,
		CreatedAt: a.CreatedAt, Status: a.Status, DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt, IncidentID: a.IncidentID,
		From: a.From, To: a.To, FirstIndex: a.FirstIndex, LastIndex: a.LastIndex, Data: data,
	}
	if sa.FactMAC, err = t.s.factMAC(alertFacts(sa)); err != nil {
		return false, err
	}
	return t.SealedTx.CreateAlert(ctx, sa)
}

// openAlert checks and decrypts an alert row. A row whose MAC or sealed
// part fails is returned all the same, with what could be read and
// Tampered set, and is reported (integrity.fact_forged).
func (t *tx) openAlert(ctx context.Context, r confidant.SealedAlert) (confidant.Alert, error) {
	a := confidant.Alert{
		ID: r.ID, Rule: r.Rule, Severity: r.Severity, ActorID: r.ActorID, ClinicID: r.ClinicID, Key: r.Key,
		CreatedAt: r.CreatedAt, Status: r.Status, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, IncidentID: r.IncidentID,
		From: r.From, To: r.To, FirstIndex: r.FirstIndex, LastIndex: r.LastIndex, PatientIDs: []string{},
	}
	ok, err := t.s.factOK(confidant.FactAlerts, r.ID, alertFacts(r), r.FactMAC)
	if err != nil {
		return a, err
	}
	ae, err := t.alertsAEAD(ctx, false)
	if err != nil {
		return a, err
	}
	d, err := openAlertData(ae, r.Data, r.ID)
	if err != nil {
		if !IsIntegrityError(err) {
			return a, err
		}
		if ok {
			t.s.reportForged(confidant.FactAlerts, r.ID)
		}
		ok = false
	} else {
		a.Explanation, a.Reason = d.Explanation, d.Reason
		if d.PatientIDs != nil {
			a.PatientIDs = d.PatientIDs
		}
	}
	a.Tampered = !ok
	return a, nil
}

func (t *tx) Alert(ctx context.Context, id string) (confidant.Alert, error) {
	r, err := t.SealedTx.Alert(ctx, id)
	if err != nil {
		return confidant.Alert{}, err
	}
	return t.openAlert(ctx, r)
}

func (t *tx) ListAlerts(ctx context.Context, f confidant.AlertFilter) ([]confidant.Alert, error) {
	rows, err := t.SealedTx.ListAlerts(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Alert, len(rows))
	for i, r := range rows {
		if out[i], err = t.openAlert(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetAlertStatus reseals the alert with the change's reason and
// authenticates the new metadata. A tampered alert is not changed: that
// would give it a valid MAC.
func (t *tx) SetAlertStatus(ctx context.Context, id string, from confidant.AlertStatus, c confidant.AlertChange) error {
	r, err := t.SealedTx.Alert(ctx, id)
	if err != nil {
		return err
	}
	cur, err := t.openAlert(ctx, r)
	if err != nil {
		return err
	}
	if cur.Tampered {
		return errAlertTampered
	}
	ae, err := t.alertsAEAD(ctx, false)
	if err != nil {
		return err
	}
	data, err := sealJSON(ae, alertData{PatientIDs: cur.PatientIDs, Explanation: cur.Explanation, Reason: c.Reason},
		kindAlert, AlertsKeyName, id, 0)
	if err != nil {
		return err
	}
	r.Status, r.DecidedBy, r.DecidedAt, r.IncidentID = c.Status, c.DecidedBy, c.DecidedAt, c.IncidentID
	mac, err := t.s.factMAC(alertFacts(r))
	if err != nil {
		return err
	}
	return t.SealedTx.SetAlertStatus(ctx, id, from, confidant.SealedAlertChange{
		Status: c.Status, DecidedBy: c.DecidedBy, DecidedAt: c.DecidedAt, IncidentID: c.IncidentID, Data: data, FactMAC: mac,
	})
}

// honeytokenTag is the keyed tag of a patient id.
func (t *tx) honeytokenTag(patientID string) ([]byte, error) {
	return t.s.keys.BlindIndex(honeytokenTable, honeytokenField, patientID, honeytokenBits)
}

func (t *tx) CreateHoneytoken(ctx context.Context, h confidant.Honeytoken) error {
	if !confidant.ValidID(h.ID) || !confidant.ValidID(h.PatientID) {
		return confidant.Errorf(confidant.KindInvalid, "invalid_honeytoken", "A honeytoken needs its id and its patient's.")
	}
	tag, err := t.honeytokenTag(h.PatientID)
	if err != nil {
		return err
	}
	ae, err := t.alertsAEAD(ctx, true)
	if err != nil {
		return err
	}
	data, err := sealJSON(ae, honeytokenData{PatientID: h.PatientID}, kindHoneytoken, AlertsKeyName, h.ID, 0)
	if err != nil {
		return err
	}
	sh := confidant.SealedHoneytoken{ID: h.ID, Tag: tag, ClinicID: h.ClinicID, CreatedBy: h.CreatedBy, CreatedAt: h.CreatedAt, Data: data}
	if sh.FactMAC, err = t.s.factMAC(honeytokenFacts(sh)); err != nil {
		return err
	}
	return t.SealedTx.CreateHoneytoken(ctx, sh)
}

// ListHoneytokens opens every honeytoken; one that fails its MAC, its
// sealed id or its tag (the sealed id must have that tag) is listed as
// tampered, without a patient id, and reported.
func (t *tx) ListHoneytokens(ctx context.Context) ([]confidant.Honeytoken, error) {
	rows, err := t.SealedTx.ListHoneytokens(ctx)
	if err != nil {
		return nil, err
	}
	// The keyset is loaded even for no rows: a caller that lists before
	// it creates one reads it before its writes (internal/audit stages
	// only functions that do).
	ae, err := t.alertsAEAD(ctx, false)
	if len(rows) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]confidant.Honeytoken, 0, len(rows))
	for _, r := range rows {
		h := confidant.Honeytoken{ID: r.ID, ClinicID: r.ClinicID, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
		ok, err := t.s.factOK(confidant.FactHoneytokens, r.ID, honeytokenFacts(r), r.FactMAC)
		if err != nil {
			return nil, err
		}
		var d honeytokenData
		if ok {
			if d, err = openHoneytokenData(ae, r.Data, r.ID); err != nil {
				ok = false
			} else if tag, err := t.honeytokenTag(d.PatientID); err != nil {
				return nil, err
			} else if !hmac.Equal(tag, r.Tag) {
				ok = false
			}
			if !ok {
				t.s.reportForged(confidant.FactHoneytokens, r.ID)
			}
		}
		if ok {
			h.PatientID = d.PatientID
		}
		h.Tampered = !ok
		out = append(out, h)
	}
	return out, nil
}

// IsHoneytoken is one indexed lookup of the patient's tag and a MAC check.
func (t *tx) IsHoneytoken(ctx context.Context, patientID string) (bool, error) {
	if !confidant.ValidID(patientID) {
		return false, nil
	}
	tag, err := t.honeytokenTag(patientID)
	if err != nil {
		return false, err
	}
	r, err := t.SealedTx.HoneytokenByTag(ctx, tag)
	if confidant.IsKind(err, confidant.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.s.factOK(confidant.FactHoneytokens, r.ID, honeytokenFacts(r), r.FactMAC)
}

// prepareAlertsKey makes sure the alerts keyset exists.
func prepareAlertsKey(ctx context.Context, backend confidant.SealedStore, k IndexKeyring) error {
	return backend.Update(ctx, func(tx confidant.SealedTx) error {
		_, err := tx.SystemKey(ctx, AlertsKeyName)
		if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		wk, _, err := k.NewPatientKey(AlertsKeyName)
		if err != nil {
			return err
		}
		return tx.PutSystemKey(ctx, wk)
	})
}
