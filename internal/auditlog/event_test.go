package auditlog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// katNonce is the nonce of the known answers: bytes 0, 1, ..., 31.
func katNonce() (n [NonceSize]byte) {
	for i := range n {
		n[i] = byte(i)
	}
	return n
}

// katSalt is the salt of the version 2 known answers: bytes 32, 33, ..., 63.
func katSalt() (s [SaltSize]byte) {
	for i := range s {
		s[i] = byte(32 + i)
	}
	return s
}

// Known answers, computed independently of this package (a Python encoder
// written from the MarshalCanonical doc comment and hashlib,
// testdata/katgen.py, which reproduces these as they were first frozen).
// They freeze the version 1 encoding, the leaf commitment and the Merkle
// leaf hash.
var katEvents = []struct {
	name                      string
	event                     Event
	canonical, commit, merkle string
}{
	{
		name: "read",
		event: Event{
			Version: EventV1, Index: 7, Time: time.Date(2026, 3, 1, 12, 34, 56, 789012000, time.UTC),
			ActorID: "staff-1", Role: "therapist", ClinicID: "clinic-1", Action: "note.read",
			PatientID: "patient-1", RecordID: "note-1", Purpose: "care", Outcome: "ok",
			SessionID: "sess-1", Client: "192.0.2.1", PatientSeq: 3, PatientPrev: 5,
		},
		canonical: "01000000000000000700064bf5b2a986140773746166662d310974686572617069737408636c696e69632d31096e6f74652e726561640970617469656e742d31066e6f74652d310463617265026f6b06736573732d31093139322e302e322e3100000000000000030000000000000005",
		commit:    "54c6178eff86460f9f97f79d14bfc51d57df54fe26f74d5bba184e8b65678555",
		merkle:    "8c453c9bd2a0f04889cd0d74239d3f4855dfd88b99b79c36c104f7b17056f510",
	},
	{
		name:      "empty",
		event:     Event{Version: EventV1, Time: time.Unix(0, 0).UTC(), PatientPrev: -1},
		canonical: "0100000000000000000000000000000000000000000000000000000000000000000000ffffffffffffffff",
		commit:    "1f9c29e30ffbc19671cc558092f10d30f7c31ae7fb888396a38fbcd915750a3e",
		merkle:    "88e431c9d005921c8c8f6b9836b8677b36754e1c71f4805d3fd7b4ec9125092d",
	},
	{
		name: "extremes",
		event: Event{
			Version: EventV1, Index: 1<<64 - 1, Time: time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC),
			ActorID: "a", Role: "security", ClinicID: "c", Action: "break-glass", PatientID: "p", RecordID: "r",
			Purpose: "Änne ürgent — 緊急 " + strings.Repeat("x", 200), Outcome: "denied", SessionID: "s", Client: "2001:db8::1",
			PatientSeq: 1<<64 - 1, PatientPrev: 1<<63 - 1,
		},
		canonical: "01fffffffffffffffffffff319c6e64101016108736563757269747901630b627265616b2d676c61737301700172e101c3846e6e6520c3bc7267656e7420e2809420e7b78ae680a52078787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878780664656e69656401730b323030313a6462383a3a31ffffffffffffffff7fffffffffffffff",
		commit:    "aa24dbeafc2bbbdfb93f8c6628e4d6f11d61cbc953aa08714bff0613a9402557",
		merkle:    "4cfb1e50fac5e46e97721cea3bbb3cb2b49d99abf840c883301750459f03dc47",
	},
}

func TestCanonicalKnownAnswers(t *testing.T) {
	for _, tc := range katEvents {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.event.MarshalCanonical()
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.canonical); !bytes.Equal(got, want) {
				t.Fatalf("MarshalCanonical:\n got %x\nwant %x", got, want)
			}
			c := LeafHash(katNonce(), got)
			if want := mustHex(t, tc.commit); !bytes.Equal(c[:], want) {
				t.Errorf("LeafHash = %x, want %x", c, want)
			}
			if l, want := MerkleLeafHash(c), mustHex(t, tc.merkle); !bytes.Equal(l[:], want) {
				t.Errorf("MerkleLeafHash = %x, want %x", l, want)
			}
			back, err := UnmarshalCanonical(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.event, back); diff != "" {
				t.Errorf("UnmarshalCanonical round trip (-want +got):\n%s", diff)
			}
			if o := (Opening{Event: got, Nonce: katNonce()}); o.Commitment() != c {
				t.Errorf("Opening.Commitment differs from LeafHash")
			}
		})
	}
}

// Known answers of version 2 (testdata/katgen.py): each version 1 event
// above concealed under katSalt. The commitment's nonce is katNonce.
var katEventsV2 = []struct {
	name                      string
	sessionHash, clientHash   string
	canonical, commit, merkle string
}{
	{
		name:        "read",
		sessionHash: "47eb51ab7e9d974cf3c16e650f85d6904e09f9be6e0c93199d157d838b6ec9c5",
		clientHash:  "1bb6456cf5c999620b789f416b814dc1c1a75b96603a0fd0fe168999435fdfc0",
		canonical:   "02000000000000000700064bf5b2a986140773746166662d310974686572617069737408636c696e69632d31096e6f74652e726561640970617469656e742d31066e6f74652d310463617265026f6b47eb51ab7e9d974cf3c16e650f85d6904e09f9be6e0c93199d157d838b6ec9c51bb6456cf5c999620b789f416b814dc1c1a75b96603a0fd0fe168999435fdfc000000000000000030000000000000005",
		commit:      "35fdf59a6a2158e09f0f25fc75fe4f9238c788c2051ae1ea9b047adb7a6c6ecb",
		merkle:      "5c05411058d71c0357d814cc3a04623d02f93e31d9544111a1f4c7ae6ab1710d",
	},
	{
		name:        "empty",
		sessionHash: "dcf110f3cad372aef957b8db826fd18f348398912b1c97419ae6a2387c9f61b4",
		clientHash:  "7dc5ab59ffed1ce0c148cf629409c641984c966c7c0933cb1b01964cf2baa88c",
		canonical:   "02000000000000000000000000000000000000000000000000dcf110f3cad372aef957b8db826fd18f348398912b1c97419ae6a2387c9f61b47dc5ab59ffed1ce0c148cf629409c641984c966c7c0933cb1b01964cf2baa88c0000000000000000ffffffffffffffff",
		commit:      "3594ac3b9774eba854e78b8ec57131efd94f069cf30eb0705bc75011bd1c47ee",
		merkle:      "30adb33bddf8c21f0b89f8c843d7dcdc7a65f26e3dbad6c0a2fb0a0da572c2c8",
	},
	{
		name:        "extremes",
		sessionHash: "c56b4dbee6e0bea0324b85e78cb0c1d30846861290c53e11a61952eb39f6a1f5",
		clientHash:  "7bf08ceed51f5467c0efcdb60a55abfa6d592d90a3e5103ffadceee6d1ba28f5",
		canonical:   "02fffffffffffffffffffff319c6e64101016108736563757269747901630b627265616b2d676c61737301700172e101c3846e6e6520c3bc7267656e7420e2809420e7b78ae680a52078787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878780664656e696564c56b4dbee6e0bea0324b85e78cb0c1d30846861290c53e11a61952eb39f6a1f57bf08ceed51f5467c0efcdb60a55abfa6d592d90a3e5103ffadceee6d1ba28f5ffffffffffffffff7fffffffffffffff",
		commit:      "24a3b4edce27e856d28e7937cd5e03bc1d3f4513871ed5f39e8911ead2dc6920",
		merkle:      "5aec179efc47cba7cbbef48fecfaabb0b89087146284b20912e017a03bf71f11",
	},
}

func TestCanonicalKnownAnswersV2(t *testing.T) {
	for i, tc := range katEventsV2 {
		t.Run(tc.name, func(t *testing.T) {
			plain := katEvents[i].event
			if plain.Version = 0; katEvents[i].name != tc.name {
				t.Fatal("the tables are out of step")
			}
			e := plain.Conceal(katSalt())
			want := plain
			want.Version, want.SessionID, want.Client = EventV2, "", ""
			want.SessionHash, want.ClientHash = [32]byte(mustHex(t, tc.sessionHash)), [32]byte(mustHex(t, tc.clientHash))
			if diff := cmp.Diff(want, e); diff != "" {
				t.Fatalf("Conceal (-want +got):\n%s", diff)
			}
			if h := HashSession(katSalt(), plain.SessionID); h != want.SessionHash {
				t.Errorf("HashSession = %x", h)
			}
			if h := HashClient(katSalt(), plain.Client); h != want.ClientHash {
				t.Errorf("HashClient = %x", h)
			}
			got, err := e.MarshalCanonical()
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.canonical); !bytes.Equal(got, want) {
				t.Fatalf("MarshalCanonical:\n got %x\nwant %x", got, want)
			}
			c := LeafHash(katNonce(), got)
			if want := mustHex(t, tc.commit); !bytes.Equal(c[:], want) {
				t.Errorf("LeafHash = %x, want %x", c, want)
			}
			if l, want := MerkleLeafHash(c), mustHex(t, tc.merkle); !bytes.Equal(l[:], want) {
				t.Errorf("MerkleLeafHash = %x, want %x", l, want)
			}
			back, err := UnmarshalCanonical(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e, back); diff != "" {
				t.Errorf("UnmarshalCanonical round trip (-want +got):\n%s", diff)
			}
			if tc.name == "read" && (bytes.Contains(got, []byte(plain.SessionID)) || bytes.Contains(got, []byte(plain.Client))) {
				t.Errorf("the version 2 encoding holds the session id or the client address")
			}
		})
	}
}

// TestConcealHides: the hashes depend on the salt and the value, and the
// two domains differ, so equal values in both fields hash apart.
func TestConcealHides(t *testing.T) {
	s1, s2 := katSalt(), katSalt()
	s2[0] ^= 1
	if HashClient(s1, "192.0.2.1") == HashClient(s2, "192.0.2.1") {
		t.Error("the client hash does not depend on the salt")
	}
	if HashClient(s1, "192.0.2.1") == HashClient(s1, "192.0.2.2") {
		t.Error("the client hash does not depend on the address")
	}
	if HashClient(s1, "x") == HashSession(s1, "x") {
		t.Error("the session and client hashes share a domain")
	}
	// Length prefixes: moving bytes across the salt/value boundary changes
	// the hash (the value is framed, not merely appended).
	if HashSession(s1, "") == HashSession(s1, "\x00") {
		t.Error("an empty value hashes as a zero byte")
	}
}

func TestNewSalt(t *testing.T) {
	a, err := NewSalt(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSalt(nil)
	if err != nil || a == b {
		t.Fatalf("two salts: equal %v, %v", a == b, err)
	}
	if _, err := NewSalt(bytes.NewReader(make([]byte, SaltSize))); err == nil {
		t.Error("NewSalt accepted a zero salt")
	}
	if _, err := NewSalt(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Error("NewSalt accepted a short read")
	}
}

func TestMarshalCanonicalTimeZone(t *testing.T) {
	e := katEvents[0].event
	e.Time = e.Time.In(time.FixedZone("EET", 2*3600))
	got, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, mustHex(t, katEvents[0].canonical)) {
		t.Error("the time zone changed the encoding")
	}
	back, _ := UnmarshalCanonical(got)
	if back.Time.Location() != time.UTC {
		t.Errorf("decoded time in %v, want UTC", back.Time.Location())
	}
}

func TestMarshalCanonicalRejects(t *testing.T) {
	base := katEvents[0].event
	tests := []struct {
		name string
		edit func(*Event)
	}{
		{"sub-microsecond time", func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) }},
		{"time out of range", func(e *Event) { e.Time = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"bad UTF-8", func(e *Event) { e.Purpose = "caf\xe9" }},
		{"oversize field", func(e *Event) { e.Client = strings.Repeat("a", MaxFieldSize+1) }},
		{"PatientPrev below -1", func(e *Event) { e.PatientPrev = -2 }},
		{"no version", func(e *Event) { e.Version = 0 }},
		{"version 4", func(e *Event) { e.Version = 4 }},
		{"version 1 with a hash", func(e *Event) { e.ClientHash[0] = 1 }},
		{"version 2 with a session id", func(e *Event) { *e = e.Conceal(katSalt()); e.SessionID = "sess-1" }},
		{"version 2 with a client address", func(e *Event) { *e = e.Conceal(katSalt()); e.Client = "192.0.2.1" }},
		{"version 2 bad UTF-8", func(e *Event) { *e = e.Conceal(katSalt()); e.Outcome = "\xff" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.edit(&e)
			if b, err := e.MarshalCanonical(); err == nil {
				t.Fatalf("MarshalCanonical = %x, want an error", b)
			}
		})
	}
	e := base
	e.Client = strings.Repeat("a", MaxFieldSize)
	if _, err := e.MarshalCanonical(); err != nil {
		t.Errorf("a field of exactly MaxFieldSize bytes: %v", err)
	}
}

func TestUnmarshalCanonicalRejects(t *testing.T) {
	good := mustHex(t, katEvents[0].canonical)
	// Offset of the first string (ActorID's length byte).
	const str0 = 1 + 8 + 8
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	oversize := func() []byte {
		b := good[:str0]
		b = binary.AppendUvarint(bytes.Clone(b), MaxFieldSize+1)
		return append(b, bytes.Repeat([]byte("a"), MaxFieldSize+1)...)
	}()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrEventMalformed},
		{"version 0", edit(func(b []byte) []byte { b[0] = 0; return b }), ErrEventVersion},
		{"version 4", edit(func(b []byte) []byte { b[0] = 4; return b }), ErrEventVersion},
		{"version 1 read as 2", edit(func(b []byte) []byte { b[0] = 2; return b }), ErrEventMalformed},
		{"truncated header", good[:10], ErrEventMalformed},
		{"truncated string", good[:str0+3], ErrEventMalformed},
		{"truncated tail", good[:len(good)-1], ErrEventMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrEventMalformed},
		{"bad UTF-8", edit(func(b []byte) []byte { b[str0+1] = 0xff; return b }), ErrEventMalformed},
		{"length past end", edit(func(b []byte) []byte { b[str0] = 0x7f; return b }), ErrEventMalformed},
		{"non-minimal length", append(append(bytes.Clone(good[:str0]), 0x87, 0x00), good[str0+1:]...), ErrEventMalformed},
		{"oversize field", oversize, ErrEventMalformed},
		{"PatientPrev -2", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[len(b)-8:], uint64(1<<64-2))
			return b
		}), ErrEventMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnmarshalCanonical(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("UnmarshalCanonical: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnmarshalCanonicalRejectsV2(t *testing.T) {
	good := mustHex(t, katEventsV2[0].canonical)
	const str0 = 1 + 8 + 8
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"truncated hashes", good[:len(good)-16-33]},
		{"truncated tail", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"bad UTF-8", edit(func(b []byte) []byte { b[str0+1] = 0xff; return b })},
		{"a ninth string instead of the hashes", append(append(bytes.Clone(good[:len(good)-80]), 6, 's', 'e', 's', 's', '-', '1'), good[len(good)-16:]...)},
		{"PatientPrev -2", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[len(b)-8:], uint64(1<<64-2))
			return b
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnmarshalCanonical(tc.in); !errors.Is(err, ErrEventMalformed) {
				t.Fatalf("UnmarshalCanonical: %v, want %v", err, ErrEventMalformed)
			}
		})
	}
}

func TestEventLogValueOmitsPersonalData(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "event", katEvents[0].event, "opening", Opening{Event: []byte("secret"), Nonce: katNonce()})
	out := buf.String()
	for _, s := range []string{"care", "192.0.2.1", "sess-1", "secret"} {
		if strings.Contains(out, s) {
			t.Errorf("log line contains %q: %s", s, out)
		}
	}
	if !strings.Contains(out, "patient-1") {
		t.Errorf("log line lacks the patient id: %s", out)
	}
}

// FuzzUnmarshalCanonical: whatever UnmarshalCanonical accepts, of either
// version, re-encodes to exactly the same bytes, and decodes again to the
// same event.
func FuzzUnmarshalCanonical(f *testing.F) {
	for _, tc := range katEvents {
		f.Add(mustHex(f, tc.canonical))
	}
	for _, tc := range katEventsV2 {
		f.Add(mustHex(f, tc.canonical))
	}
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0})
	f.Add(mustHex(f, katV3Canonical))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalCanonical(b)
		if err != nil {
			return
		}
		again, err := e.MarshalCanonical()
		if err != nil {
			t.Fatalf("accepted %x but cannot re-encode: %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
		e2, err := UnmarshalCanonical(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, e2); diff != "" {
			t.Fatalf("second decoding differs (-first +second):\n%s", diff)
		}
	})
}
