package audit

import (
	"encoding/json"
	"strconv"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// freeText is the part of an event sealed under the audit key.
type freeText struct {
	Purpose string `json:"p,omitempty"`
	Client  string `json:"c,omitempty"`
}

// freeAD binds sealed free text to its log index.
func freeAD(index uint64) []byte {
	return []byte("confidant/audit-free/v1|" + strconv.FormatUint(index, 10))
}

// sealFree encrypts an event's purpose and client address.
func (l *Log) sealFree(e auditlog.Event) ([]byte, error) {
	if e.Purpose == "" && e.Client == "" {
		return nil, nil
	}
	b, err := json.Marshal(freeText{Purpose: e.Purpose, Client: e.Client})
	if err != nil {
		return nil, err
	}
	return l.aead.Encrypt(b, freeAD(e.Index))
}

// OpenFree decrypts an event's purpose and client address.
func (l *Log) OpenFree(se confidant.StoredEvent) (purpose, client string, err error) {
	if len(se.Sealed) == 0 {
		return "", "", nil
	}
	b, err := l.aead.Decrypt(se.Sealed, freeAD(se.Index))
	if err != nil {
		return "", "", confidant.Errorf(confidant.KindInternal, "integrity_error", "An access-log entry failed its integrity check.")
	}
	var f freeText
	if err := json.Unmarshal(b, &f); err != nil {
		return "", "", confidant.Errorf(confidant.KindInternal, "integrity_error", "An access-log entry failed its integrity check.")
	}
	return f.Purpose, f.Client, nil
}

// EventOf rebuilds the full event (as committed to in the log) from a stored
// one.
func (l *Log) EventOf(se confidant.StoredEvent) (auditlog.Event, error) {
	purpose, client, err := l.OpenFree(se)
	if err != nil {
		return auditlog.Event{}, err
	}
	return auditlog.Event{
		Index: se.Index, Time: se.Time, ActorID: se.ActorID, Role: string(se.Role), ClinicID: se.ClinicID,
		Action: se.Action, PatientID: se.PatientID, RecordID: se.RecordID, Purpose: purpose, Outcome: se.Outcome,
		SessionID: se.SessionID, Client: client, PatientSeq: se.PatientSeq, PatientPrev: se.PatientPrev,
	}, nil
}
