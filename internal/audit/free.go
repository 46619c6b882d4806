package audit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/auditlog"
)

// freeText is the part of an event sealed under the audit key: its purpose,
// its client address and, in an event of version 2, the salt of the hashes
// by which the event commits to its session id and client address. Free
// text without a salt is that of a version 1 event.
//
// A record write's event (of version 3) also holds here the version and
// the digest of the record it wrote (RecordVersion, RecordDigest): sealed,
// so that the columns a database writer reads do not show which records
// were written when; committed to by the event's leaf like every field.
type freeText struct {
	Purpose string `json:"p,omitempty"`
	Client  string `json:"c,omitempty"`
	Salt    salt   `json:"s,omitzero"`
	Version uint64 `json:"v,omitempty"`
	Digest  salt   `json:"d,omitzero"` // 32 bytes in base64, as a salt
}

// salt is an event's salt (auditlog.NewSalt), in JSON as a string in
// standard base64 with padding. The zero salt is "none".
type salt [auditlog.SaltSize]byte

func (s salt) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(nil, s[:]), nil
}

func (s *salt) UnmarshalText(b []byte) error {
	if base64.StdEncoding.DecodedLen(len(b)) > len(s)+2 {
		return errBadSalt
	}
	var buf [auditlog.SaltSize + 2]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], b)
	if err != nil || n != len(s) {
		return errBadSalt
	}
	*s = salt(buf[:n])
	return nil
}

var errBadSalt = errors.New("audit: free text: malformed salt")

// freeAD binds sealed free text to its log index.
func freeAD(index uint64) []byte {
	return appendFreeAD(nil, index)
}

// appendFreeAD appends freeAD(index) to b.
func appendFreeAD(b []byte, index uint64) []byte {
	return strconv.AppendUint(append(b, "confidant/audit-free/v1|"...), index, 10)
}

// encode returns what the log stores of a new event e, which holds its
// values (session id, client address and purpose; e.Version is ignored):
// the canonical encoding of the event as the log commits to it, version 2
// under a fresh salt, and the sealed free text holding the purpose, the
// client address and the salt. Every event of version 2 has free text.
func (l *Log) encode(e auditlog.Event) (canon, sealed []byte, err error) {
	s, err := auditlog.NewSalt(nil)
	if err != nil {
		return nil, nil, err
	}
	f := freeText{Purpose: e.Purpose, Client: e.Client, Salt: s, Version: e.RecordVersion, Digest: salt(e.RecordDigest)}
	canon, err = committed(e, f).MarshalCanonical()
	if err != nil {
		return nil, nil, fmt.Errorf("encoding event: %w", err)
	}
	sealed, err = l.sealFree(e.Index, f)
	if err != nil {
		return nil, nil, err
	}
	return canon, sealed, nil
}

// committed returns the event the log commits to, from e (its stored
// columns, session id included) and its free text: of version 2 if the free
// text has a salt, and otherwise of version 1 (an event written before
// version 2); of version 3 if the free text has also a record digest.
func committed(e auditlog.Event, f freeText) auditlog.Event {
	e.Purpose, e.Client = f.Purpose, f.Client
	e.RecordVersion, e.RecordDigest = 0, [32]byte{}
	if f.Salt == (salt{}) {
		e.Version = auditlog.EventV1
		return e
	}
	e = e.Conceal(f.Salt)
	if f.Digest != (salt{}) {
		e.Version, e.RecordVersion, e.RecordDigest = auditlog.EventV3, f.Version, [32]byte(f.Digest)
	}
	return e
}

// sealFree encrypts an event's free text, bound to its index. Empty free
// text (only a version 1 event's) is not sealed.
func (l *Log) sealFree(index uint64, f freeText) ([]byte, error) {
	if f == (freeText{}) {
		return nil, nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return l.aead.Encrypt(b, freeAD(index))
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
// freeText would. What sealFree writes, {"p":"...","c":"...","s":"..."}
// with any member left out when empty, is read directly when no string
// holds a backslash, a control character or invalid UTF-8: json.Unmarshal
// would return those bytes unchanged (and the salt's to
// salt.UnmarshalText). Anything else goes to json.Unmarshal.
func decodeFree(b []byte) (freeText, error) {
	if f, ok := decodeFreePlain(b); ok {
		return f, nil
	}
	var f freeText
	err := json.Unmarshal(b, &f)
	return f, err
}

// freeKeys are the members of free text as sealFree writes them, in order.
var freeKeys = [...]string{`"p":"`, `"c":"`, `"s":"`}

// decodeFreePlain is decodeFree's direct reading; ok is false for anything
// it does not read. The strings are substrings of one copy of b.
func decodeFreePlain(b []byte) (f freeText, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return freeText{}, false
	}
	if len(b) == 2 {
		return freeText{}, true
	}
	s := string(b[1 : len(b)-1])
	for i, key := range freeKeys {
		rest, found := strings.CutPrefix(s, key)
		if !found {
			continue
		}
		var v string
		if v, s, ok = plainString(rest); !ok {
			return freeText{}, false
		}
		switch i {
		case 0:
			f.Purpose = v
		case 1:
			f.Client = v
		case 2:
			if f.Salt.UnmarshalText([]byte(v)) != nil {
				return freeText{}, false
			}
		}
		if len(s) == 0 {
			return f, true
		}
		if s[0] != ',' {
			return freeText{}, false
		}
		s = s[1:]
	}
	return freeText{}, false
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

// EventOf rebuilds an event from a stored one as the log commits to it:
// of version 2, holding the session id and the client address only as
// salted hashes, or, if it was written before version 2, of version 1.
func (l *Log) EventOf(se confidant.StoredEvent) (auditlog.Event, error) {
	var ad []byte
	f, err := l.openFree(se.Sealed, se.Index, &ad)
	if err != nil {
		return auditlog.Event{}, err
	}
	return committed(auditlog.Event{
		Index: se.Index, Time: se.Time, ActorID: se.ActorID, Role: string(se.Role), ClinicID: se.ClinicID,
		Action: se.Action, PatientID: se.PatientID, RecordID: se.RecordID, Outcome: se.Outcome,
		SessionID: se.SessionID, PatientSeq: se.PatientSeq, PatientPrev: se.PatientPrev,
	}, f), nil
}
