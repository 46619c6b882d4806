package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"
)

// EventVersion is the version byte that starts every canonical event
// encoding produced by this package.
const EventVersion = 1

// MaxFieldSize is the largest string field, in bytes, that the canonical
// encoding accepts.
const MaxFieldSize = 64 << 10

// MaxEventSize bounds the length of a canonical event: the version byte,
// four fixed-width integers and ten strings of at most MaxFieldSize bytes
// with their length prefixes.
const MaxEventSize = 1 + 4*8 + numStrings*(binary.MaxVarintLen32+MaxFieldSize)

const numStrings = 10

// Event is one entry of the access log: who did what to whose record, when,
// why and with what outcome.
//
// Ids are opaque. Purpose (a free-text reason, e.g. for break-the-glass) and
// Client (a network address) are personal data; LogValue leaves them out.
//
// Patient chain: an event about a patient (PatientID != "") carries the
// patient's own sequence number, starting at 1 and increasing by one for
// each of that patient's events in log order, and PatientPrev, the log index
// of the patient's previous event (-1 for the first). An event without a
// patient has PatientSeq 0 and PatientPrev -1. Verify checks both rules.
type Event struct {
	Index       uint64    // position in the log, assigned by the sequencer
	Time        time.Time // a whole number of microseconds; compared as UTC
	ActorID     string
	Role        string
	ClinicID    string
	Action      string
	PatientID   string
	RecordID    string
	Purpose     string
	Outcome     string
	SessionID   string
	Client      string
	PatientSeq  uint64
	PatientPrev int64 // log index of the patient's previous event; -1 none
}

// LogValue implements slog.LogValuer with ids only: no purpose, client
// address or session.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("index", e.Index),
		slog.String("action", e.Action),
		slog.String("actor", e.ActorID),
		slog.String("role", e.Role),
		slog.String("clinic", e.ClinicID),
		slog.String("patient", e.PatientID),
		slog.String("record", e.RecordID),
		slog.String("outcome", e.Outcome),
	)
}

// Errors of the canonical encoding. They name the problem, never a value.
var (
	ErrEventVersion   = errors.New("auditlog: unknown event encoding version")
	ErrEventMalformed = errors.New("auditlog: malformed event encoding")
)

// MarshalCanonical returns the canonical encoding of e, version 1. The
// encoding is deterministic and fixed-order, and it is what the leaf
// commitment (LeafHash) covers, so it must never change for version 1:
//
//	byte     version (1)
//	uint64   Index, big-endian
//	int64    Time as Unix microseconds, big-endian
//	string   ActorID, Role, ClinicID, Action, PatientID, RecordID,
//	         Purpose, Outcome, SessionID, Client, in this order; each a
//	         minimal uvarint byte length followed by the UTF-8 bytes
//	uint64   PatientSeq, big-endian
//	int64    PatientPrev, big-endian (two's complement)
//
// MarshalCanonical fails if a string is not valid UTF-8 or is longer than
// MaxFieldSize, if Time is not a whole number of microseconds (truncate it
// with Time.Truncate(time.Microsecond) first) or is outside the range of
// int64 microseconds, or if PatientPrev is below -1. The time zone of Time
// is not encoded.
func (e Event) MarshalCanonical() ([]byte, error) {
	if e.Time.Nanosecond()%1000 != 0 {
		return nil, errors.New("auditlog: event time has sub-microsecond precision")
	}
	us := e.Time.UnixMicro()
	if !time.UnixMicro(us).Equal(e.Time) {
		return nil, errors.New("auditlog: event time out of range")
	}
	if e.PatientPrev < -1 {
		return nil, errors.New("auditlog: event PatientPrev below -1")
	}
	strs := e.strings()
	n := 1 + 4*8
	for i, s := range strs {
		if len(s) > MaxFieldSize {
			return nil, fmt.Errorf("auditlog: event field %s longer than %d bytes", fieldNames[i], MaxFieldSize)
		}
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("auditlog: event field %s is not valid UTF-8", fieldNames[i])
		}
		n += binary.MaxVarintLen32 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, EventVersion)
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(us))
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, e.PatientSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.PatientPrev))
	return b, nil
}

var fieldNames = [numStrings]string{"ActorID", "Role", "ClinicID", "Action", "PatientID", "RecordID", "Purpose", "Outcome", "SessionID", "Client"}

func (e *Event) strings() [numStrings]string {
	return [numStrings]string{e.ActorID, e.Role, e.ClinicID, e.Action, e.PatientID, e.RecordID, e.Purpose, e.Outcome, e.SessionID, e.Client}
}

func (e *Event) stringPtrs() [numStrings]*string {
	return [numStrings]*string{&e.ActorID, &e.Role, &e.ClinicID, &e.Action, &e.PatientID, &e.RecordID, &e.Purpose, &e.Outcome, &e.SessionID, &e.Client}
}

// UnmarshalCanonical decodes a canonical event encoding. It accepts exactly
// the encodings MarshalCanonical produces: it rejects an unknown version
// (ErrEventVersion), and truncated input, trailing bytes, non-minimal
// length prefixes, strings longer than MaxFieldSize or not valid UTF-8, and
// PatientPrev below -1 (ErrEventMalformed). Time is returned in UTC.
func UnmarshalCanonical(b []byte) (Event, error) {
	var p parsed
	if err := p.parse(b); err != nil {
		return Event{}, err
	}
	e := Event{
		Index:       p.index,
		Time:        time.UnixMicro(p.micros).UTC(),
		PatientSeq:  p.patientSeq,
		PatientPrev: p.patientPrev,
	}
	ptrs := e.stringPtrs()
	for i, s := range p.strs {
		*ptrs[i] = string(s)
	}
	return e, nil
}

// parsed is a decoded event whose strings alias the input. Verify uses it to
// avoid allocating a string per field.
type parsed struct {
	index       uint64
	micros      int64
	strs        [numStrings][]byte
	patientSeq  uint64
	patientPrev int64
}

func (p *parsed) patientID() []byte { return p.strs[4] }

func (p *parsed) parse(b []byte) error {
	if len(b) == 0 {
		return ErrEventMalformed
	}
	if b[0] != EventVersion {
		return ErrEventVersion
	}
	b = b[1:]
	if len(b) < 16 {
		return ErrEventMalformed
	}
	p.index = binary.BigEndian.Uint64(b)
	p.micros = int64(binary.BigEndian.Uint64(b[8:]))
	b = b[16:]
	region := b
	short := true // every length prefix is a single (ASCII) byte
	for i := range p.strs {
		n, k := binary.Uvarint(b)
		if k <= 0 || k != uvarintLen(n) || n > MaxFieldSize || n > uint64(len(b)-k) {
			return ErrEventMalformed
		}
		s := b[k : k+int(n)]
		if k > 1 {
			short = false
		}
		p.strs[i] = s
		b = b[k+int(n):]
	}
	if len(b) != 16 {
		return ErrEventMalformed
	}
	// With single-byte (ASCII) prefixes between them, the strings are each
	// valid UTF-8 exactly when the region holding them all is: an ASCII
	// byte can neither continue nor interrupt a multi-byte sequence. One
	// call is much cheaper than ten.
	if short {
		if !utf8.Valid(region[:len(region)-16]) {
			return ErrEventMalformed
		}
	} else {
		for _, s := range p.strs {
			if !utf8.Valid(s) {
				return ErrEventMalformed
			}
		}
	}
	p.patientSeq = binary.BigEndian.Uint64(b)
	p.patientPrev = int64(binary.BigEndian.Uint64(b[8:]))
	if p.patientPrev < -1 {
		return ErrEventMalformed
	}
	return nil
}

// uvarintLen is the length of the minimal uvarint encoding of n.
func uvarintLen(n uint64) int {
	k := 1
	for n >= 0x80 {
		n >>= 7
		k++
	}
	return k
}
