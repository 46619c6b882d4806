package auditlog

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"
)

// Versions of the canonical event encoding. Version 1 holds every field
// as it is; version 2 holds the session id and the client address only as
// salted hashes (HashSession, HashClient), so that an event handed to the
// patient it concerns (a proof bundle) reveals no more than the patient's
// access history shows. Both decode and verify; new events are written in
// EventVersion.
//
// Version 3 is version 2 with, at its end, the version and a digest of the
// record a write wrote (RecordVersion, RecordDigest): the SHA-256 of the
// sealed value as the database stores it, so that the records can be
// checked against the log without any key (docs/AUDIT.md, "Records").
// The log writes version 3 for record writes and version 2 otherwise.
const (
	EventV1 = 1
	EventV2 = 2
	EventV3 = 3

	// EventVersion is the version of the events the log writes now.
	EventVersion = EventV2
)

// MaxFieldSize is the largest string field, in bytes, that the canonical
// encoding accepts.
const MaxFieldSize = 64 << 10

// MaxEventSize bounds the length of a canonical event of either version:
// that of version 1, the longer, with the version byte, four fixed-width
// integers and ten strings of at most MaxFieldSize bytes with their length
// prefixes.
const MaxEventSize = 1 + 4*8 + numStrings*(binary.MaxVarintLen32+MaxFieldSize)

// numStrings is the number of strings in version 1, numStringsV2 in version
// 2 (the first eight of version 1, in the same order).
const (
	numStrings   = 10
	numStringsV2 = 8
)

// SaltSize is the size of the random salt of a version 2 event's hashes.
const SaltSize = 32

// Domain tags of the salted hashes of version 2.
const (
	SessionDomain = "confidant/audit-session/v2"
	ClientDomain  = "confidant/audit-client/v2"
)

// Event is one entry of the access log: who did what to whose record, when,
// why and with what outcome.
//
// Ids are opaque. Purpose (a free-text reason, e.g. for break-the-glass) and
// Client (a network address) are personal data; LogValue leaves them out.
//
// Version says which fields the event holds. A version 1 event holds
// SessionID and Client themselves; a version 2 event holds instead
// SessionHash and ClientHash, their hashes under a secret random salt
// (Conceal), and leaves SessionID and Client empty. Whoever holds an event
// of version 2 without its salt learns neither value, not even by trying
// every possible address.
//
// Patient chain: an event about a patient (PatientID != "") carries the
// patient's own sequence number, starting at 1 and increasing by one for
// each of that patient's events in log order, and PatientPrev, the log index
// of the patient's previous event (-1 for the first). An event without a
// patient has PatientSeq 0 and PatientPrev -1. Verify checks both rules.
type Event struct {
	Version     uint8     // EventV1, EventV2 or EventV3; there is no default
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
	SessionID   string   // version 1 only
	Client      string   // version 1 only
	SessionHash [32]byte // version 2 only: HashSession(salt, session id)
	ClientHash  [32]byte // version 2 only: HashClient(salt, client address)
	PatientSeq  uint64
	PatientPrev int64 // log index of the patient's previous event; -1 none
	// Version 3 only: the version of the record written (a note's version
	// number, 1 for the other records) and the SHA-256 of its sealed value
	// as stored.
	RecordVersion uint64
	RecordDigest  [32]byte
}

// Conceal returns e, which holds its session id and client address, as a
// version 2 event: SessionHash and ClientHash are their hashes under salt,
// and SessionID and Client are empty. salt must be drawn afresh for each
// event (NewSalt) and kept from everyone who may see the event but not
// those values (the log seals it with the event's free text, under the
// audit key): with the salt, anyone can test guesses of the address.
func (e Event) Conceal(salt [SaltSize]byte) Event {
	e.Version = EventV2
	e.SessionHash = HashSession(salt, e.SessionID)
	e.ClientHash = HashClient(salt, e.Client)
	e.SessionID, e.Client = "", ""
	return e
}

// HashSession returns the salted hash of a session id that a version 2
// event holds:
//
//	SHA-256("confidant/audit-session/v2" || 0x00 || salt || uvarint(len(id)) || id)
//
// where uvarint is the minimal unsigned varint encoding of the byte length,
// as in the canonical encoding.
func HashSession(salt [SaltSize]byte, id string) [32]byte {
	return saltedHash(SessionDomain, &salt, id)
}

// HashClient returns the salted hash of a client address that a version 2
// event holds: as HashSession, with the domain tag
// "confidant/audit-client/v2".
func HashClient(salt [SaltSize]byte, addr string) [32]byte {
	return saltedHash(ClientDomain, &salt, addr)
}

func saltedHash(domain string, salt *[SaltSize]byte, v string) [32]byte {
	var buf [128]byte
	b := append(buf[:0], domain...)
	b = append(b, 0)
	b = append(b, salt[:]...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	return sha256.Sum256(b)
}

// NewSalt returns SaltSize bytes read from r, or from crypto/rand if r is
// nil. It fails rather than return the zero salt, which a working source
// never yields and which the log reads as "no salt" (version 1).
func NewSalt(r io.Reader) ([SaltSize]byte, error) {
	var s [SaltSize]byte
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, s[:]); err != nil {
		return s, fmt.Errorf("auditlog: reading salt: %w", err)
	}
	if s == ([SaltSize]byte{}) {
		return s, errors.New("auditlog: the random source returned a zero salt")
	}
	return s, nil
}

// LogValue implements slog.LogValuer with ids only: no purpose, client
// address or session, nor their hashes.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("version", int(e.Version)),
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

// MarshalCanonical returns the canonical encoding of e in e.Version. The
// encoding is deterministic and fixed-order, and it is what the leaf
// commitment (LeafHash) covers, so it must never change for a version.
// Version 1:
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
// Version 2 is version 1 with the last two strings replaced by their
// salted hashes (Conceal), 32 bytes each without a length:
//
//	byte     version (2)
//	uint64   Index, big-endian
//	int64    Time as Unix microseconds, big-endian
//	string   ActorID, Role, ClinicID, Action, PatientID, RecordID,
//	         Purpose, Outcome, as in version 1
//	[32]byte SessionHash
//	[32]byte ClientHash
//	uint64   PatientSeq, big-endian
//	int64    PatientPrev, big-endian (two's complement)
//
// Version 3 is version 2 followed by
//
//	uint64   RecordVersion, big-endian
//	[32]byte RecordDigest
//
// MarshalCanonical fails if e.Version is none of these, if an event of
// another version than 3 has a record version or digest, if a version 1 event has
// a hash or a version 2 event a SessionID or Client (conceal the values
// with Conceal instead), if a string is not valid UTF-8 or is longer than
// MaxFieldSize, if Time is not a whole number of microseconds (truncate it
// with Time.Truncate(time.Microsecond) first) or is outside the range of
// int64 microseconds, or if PatientPrev is below -1. The time zone of Time
// is not encoded.
func (e Event) MarshalCanonical() ([]byte, error) {
	nstr := numStrings
	switch e.Version {
	case EventV1:
		if e.SessionHash != [32]byte{} || e.ClientHash != [32]byte{} {
			return nil, errors.New("auditlog: a version 1 event holds no hashes")
		}
	case EventV2, EventV3:
		if e.SessionID != "" || e.Client != "" {
			return nil, errors.New("auditlog: a version 2 event holds the hashes of its session id and client address, not the values (see Conceal)")
		}
		nstr = numStringsV2
	default:
		return nil, fmt.Errorf("auditlog: cannot encode event version %d", e.Version)
	}
	if e.Version != EventV3 && (e.RecordVersion != 0 || e.RecordDigest != [32]byte{}) {
		return nil, errors.New("auditlog: only a version 3 event holds a record version and digest")
	}
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
	all := e.strings()
	strs := all[:nstr]
	n := 1 + 5*8 + 3*32
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
	b = append(b, e.Version)
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(us))
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if e.Version != EventV1 {
		b = append(b, e.SessionHash[:]...)
		b = append(b, e.ClientHash[:]...)
	}
	b = binary.BigEndian.AppendUint64(b, e.PatientSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.PatientPrev))
	if e.Version == EventV3 {
		b = binary.BigEndian.AppendUint64(b, e.RecordVersion)
		b = append(b, e.RecordDigest[:]...)
	}
	return b, nil
}

var fieldNames = [numStrings]string{"ActorID", "Role", "ClinicID", "Action", "PatientID", "RecordID", "Purpose", "Outcome", "SessionID", "Client"}

func (e *Event) strings() [numStrings]string {
	return [numStrings]string{e.ActorID, e.Role, e.ClinicID, e.Action, e.PatientID, e.RecordID, e.Purpose, e.Outcome, e.SessionID, e.Client}
}

func (e *Event) stringPtrs() [numStrings]*string {
	return [numStrings]*string{&e.ActorID, &e.Role, &e.ClinicID, &e.Action, &e.PatientID, &e.RecordID, &e.Purpose, &e.Outcome, &e.SessionID, &e.Client}
}

// UnmarshalCanonical decodes a canonical event encoding of either version.
// It accepts exactly the encodings MarshalCanonical produces: it rejects an
// unknown version (ErrEventVersion), and truncated input, trailing bytes,
// non-minimal length prefixes, strings longer than MaxFieldSize or not
// valid UTF-8, and PatientPrev below -1 (ErrEventMalformed). Time is
// returned in UTC. A version 2 event has empty SessionID and Client.
func UnmarshalCanonical(b []byte) (Event, error) {
	var p parsed
	if err := p.parse(b); err != nil {
		return Event{}, err
	}
	e := Event{
		Version:     p.version,
		Index:       p.index,
		Time:        time.UnixMicro(p.micros).UTC(),
		SessionHash: p.sessionHash,
		ClientHash:  p.clientHash,
		PatientSeq:  p.patientSeq,
		PatientPrev: p.patientPrev,

		RecordVersion: p.recordVersion,
		RecordDigest:  p.recordDigest,
	}
	ptrs := e.stringPtrs()
	for i, s := range p.strs {
		*ptrs[i] = string(s)
	}
	return e, nil
}

// parsed is a decoded event whose strings alias the input. Verify uses it to
// avoid allocating a string per field. In version 2 the last two strings
// are nil and the hashes are set.
type parsed struct {
	version                 uint8
	index                   uint64
	micros                  int64
	strs                    [numStrings][]byte
	sessionHash, clientHash [32]byte
	patientSeq              uint64
	patientPrev             int64
	recordVersion           uint64   // version 3 only
	recordDigest            [32]byte // version 3 only
}

func (p *parsed) patientID() []byte { return p.strs[4] }

func (p *parsed) parse(b []byte) error {
	if len(b) == 0 {
		return ErrEventMalformed
	}
	nstr, tail := numStrings, 16
	switch b[0] {
	case EventV1:
	case EventV2:
		nstr, tail = numStringsV2, 2*32+16
	case EventV3:
		nstr, tail = numStringsV2, 2*32+16+8+32
	default:
		return ErrEventVersion
	}
	p.version = b[0]
	b = b[1:]
	if len(b) < 16 {
		return ErrEventMalformed
	}
	p.index = binary.BigEndian.Uint64(b)
	p.micros = int64(binary.BigEndian.Uint64(b[8:]))
	b = b[16:]
	region := b
	short := true // every length prefix is a single (ASCII) byte
	for i := range nstr {
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
	if len(b) != tail {
		return ErrEventMalformed
	}
	// With single-byte (ASCII) prefixes between them, the strings are each
	// valid UTF-8 exactly when the region holding them all is: an ASCII
	// byte can neither continue nor interrupt a multi-byte sequence. One
	// call is much cheaper than ten.
	if short {
		if !utf8.Valid(region[:len(region)-tail]) {
			return ErrEventMalformed
		}
	} else {
		for _, s := range p.strs[:nstr] {
			if !utf8.Valid(s) {
				return ErrEventMalformed
			}
		}
	}
	if nstr == numStringsV2 {
		p.sessionHash, p.clientHash = [32]byte(b[:32]), [32]byte(b[32:64])
		b = b[64:]
	}
	p.patientSeq = binary.BigEndian.Uint64(b)
	p.patientPrev = int64(binary.BigEndian.Uint64(b[8:]))
	p.recordVersion, p.recordDigest = 0, [32]byte{}
	if p.version == EventV3 {
		p.recordVersion = binary.BigEndian.Uint64(b[16:])
		p.recordDigest = [32]byte(b[24:56])
	}
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
