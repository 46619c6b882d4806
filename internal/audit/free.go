package audit

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

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
	return appendFreeAD(nil, index)
}

// appendFreeAD appends freeAD(index) to b.
func appendFreeAD(b []byte, index uint64) []byte {
	return strconv.AppendUint(append(b, "confidant/audit-free/v1|"...), index, 10)
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
	var ad []byte
	f, err := l.openFree(se.Sealed, se.Index, &ad)
	return f.Purpose, f.Client, err
}

// openFree decrypts the sealed free text of the event at index; *ad is
// scratch space for the associated data, reused across calls.
func (l *Log) openFree(sealed []byte, index uint64, ad *[]byte) (freeText, error) {
	if len(sealed) == 0 {
		return freeText{}, nil
	}
	*ad = appendFreeAD((*ad)[:0], index)
	b, err := l.aead.Decrypt(sealed, *ad)
	if err != nil {
		return freeText{}, confidant.Errorf(confidant.KindInternal, "integrity_error", "An access-log entry failed its integrity check.")
	}
	f, err := decodeFree(b)
	if err != nil {
		return freeText{}, confidant.Errorf(confidant.KindInternal, "integrity_error", "An access-log entry failed its integrity check.")
	}
	return f, nil
}

// decodeFree decodes decrypted free text exactly as json.Unmarshal into a
// freeText would. What sealFree writes, {"p":"...","c":"..."} with either
// member left out when empty, is read directly when neither string holds
// a backslash, a control character or invalid UTF-8: json.Unmarshal would
// return those bytes unchanged. Anything else goes to json.Unmarshal.
func decodeFree(b []byte) (freeText, error) {
	if f, ok := decodeFreePlain(b); ok {
		return f, nil
	}
	var f freeText
	err := json.Unmarshal(b, &f)
	return f, err
}

// decodeFreePlain is decodeFree's direct reading; ok is false for anything
// it does not read. Both strings are substrings of one copy of b.
func decodeFreePlain(b []byte) (f freeText, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return freeText{}, false
	}
	if len(b) == 2 {
		return freeText{}, true
	}
	s := string(b[1 : len(b)-1])
	if rest, found := strings.CutPrefix(s, `"p":"`); found {
		if f.Purpose, s, ok = plainString(rest); !ok {
			return freeText{}, false
		}
		if len(s) == 0 {
			return f, true
		}
		if s[0] != ',' {
			return freeText{}, false
		}
		s = s[1:]
	}
	rest, found := strings.CutPrefix(s, `"c":"`)
	if !found {
		return freeText{}, false
	}
	if f.Client, s, ok = plainString(rest); !ok || len(s) != 0 {
		return freeText{}, false
	}
	return f, true
}

// plainString reads the rest of a JSON string whose opening quote has been
// read, if it has no escape, no control character and is valid UTF-8, and
// returns it and what follows its closing quote.
func plainString(s string) (str, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if !utf8.ValidString(s[:i]) {
				return "", "", false
			}
			return s[:i], s[i+1:], true
		case c == '\\' || c < 0x20:
			return "", "", false
		}
	}
	return "", "", false
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
