package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "confidant.example/log"

// testKey returns a deterministic checkpoint key named name.
func testKey(t testing.TB, name string, seed byte) (Signer, note.Verifier, string) {
	t.Helper()
	skey, vkey, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, vkey
}

// The known answer freezes the checkpoint body (formats/log) and the note
// key and signature (x/mod note; Ed25519 is deterministic) for the key with
// seed 0x07 x 32. They were computed independently with Python's hashlib
// and cryptography (key hash = SHA-256(name || "\n" || 0x01 || public
// key)[:4]; signature over the body).
const (
	katVKey       = "confidant.example/log+899c1448+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
	katCheckpoint = "confidant.example/log\n12345\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n— confidant.example/log iZwUSADeFJniMX0oDllhptJjsfG/dkO7voU+Vh/gIU1YcE/OiRSqI79uZUIcwLnVSUMX39YpFNSQxMASlovwDqz9DwM=\n"
)

func TestCheckpointKnownAnswer(t *testing.T) {
	s, v, vkey := testKey(t, testOrigin, 7)
	if vkey != katVKey {
		t.Errorf("verifier key %q, want %q", vkey, katVKey)
	}
	root := sha256.Sum256([]byte("root"))
	cp, err := SignCheckpoint(s, testOrigin, 12345, root)
	if err != nil {
		t.Fatal(err)
	}
	if string(cp.Note) != katCheckpoint {
		t.Errorf("signed checkpoint\n%q\nwant\n%q", cp.Note, katCheckpoint)
	}
	got, err := ParseCheckpoint([]byte(katCheckpoint), note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != testOrigin || got.Size != 12345 || got.Root != root || string(got.Note) != katCheckpoint || got.External {
		t.Errorf("ParseCheckpoint = %+v", got)
	}
	// formats/log's own parser agrees.
	lc, _, _, err := log.ParseCheckpoint([]byte(katCheckpoint), testOrigin, v)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Size != got.Size || !bytes.Equal(lc.Hash, got.Root[:]) {
		t.Errorf("formats/log parsed %+v", lc)
	}
}

// signNote signs an arbitrary checkpoint body.
func signNote(t testing.TB, body string, signers ...Signer) []byte {
	t.Helper()
	ns := make([]note.Signer, len(signers))
	for i, s := range signers {
		ns[i] = s
	}
	b, err := note.Sign(&note.Note{Text: body}, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCheckpoint(t *testing.T) {
	s, v, _ := testKey(t, testOrigin, 7)
	other, otherV, _ := testKey(t, testOrigin, 8)
	witness, witnessV, _ := testKey(t, "witness.example/w1", 9)
	rootB64 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	good := testOrigin + "\n10\n" + rootB64 + "\n"
	tamperedSig := func() []byte {
		b := signNote(t, good, s)
		return bytes.Replace(b, []byte("\n10\n"), []byte("\n11\n"), 1)
	}()
	tests := []struct {
		name      string
		text      []byte
		verifiers note.Verifiers
		ok        bool
	}{
		{"good", signNote(t, good, s), note.VerifierList(v), true},
		{"extension lines ignored", signNote(t, good+"ext one\n", s), note.VerifierList(v), true},
		{"cosigned, witness known", signNote(t, good, s, witness), note.VerifierList(v, witnessV), true},
		{"cosigned, witness unknown", signNote(t, good, s, witness), note.VerifierList(v), true},
		{"other key of the same name", signNote(t, good, other), note.VerifierList(v), false},
		{"only a witness signed", signNote(t, good, witness), note.VerifierList(v, witnessV), false},
		{"log key not known", signNote(t, good, s), note.VerifierList(otherV), false},
		{"no verifiers", signNote(t, good, s), nil, false},
		{"tampered after signing", tamperedSig, note.VerifierList(v), false},
		{"origin is not the key name", signNote(t, "other.example/log\n10\n"+rootB64+"\n", s), note.VerifierList(v), false},
		{"leading zero in size", signNote(t, testOrigin+"\n010\n"+rootB64+"\n", s), note.VerifierList(v), false},
		{"plus sign in size", signNote(t, testOrigin+"\n+10\n"+rootB64+"\n", s), note.VerifierList(v), false},
		{"short root", signNote(t, testOrigin+"\n10\n"+base64.StdEncoding.EncodeToString(make([]byte, 31))+"\n", s), note.VerifierList(v), false},
		{"unpadded root", signNote(t, testOrigin+"\n10\n"+strings.TrimRight(rootB64, "=")+"\n", s), note.VerifierList(v), false},
		{"too few lines", signNote(t, testOrigin+"\n10\n", s), note.VerifierList(v), false},
		{"too long", append(signNote(t, good, s), bytes.Repeat([]byte("x"), MaxCheckpointSize)...), note.VerifierList(v), false},
		{"empty", nil, note.VerifierList(v), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := ParseCheckpoint(tc.text, tc.verifiers)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseCheckpoint = %+v, %v; want ok=%v", cp, err, tc.ok)
			}
			if err == nil && (cp.Size != 10 || cp.Origin != testOrigin) {
				t.Errorf("parsed %+v", cp)
			}
		})
	}
}

func TestSignCheckpointRequiresOriginKey(t *testing.T) {
	s, _, _ := testKey(t, "other.example/log", 7)
	if _, err := SignCheckpoint(s, testOrigin, 1, [32]byte{}); err == nil {
		t.Fatal("signed a checkpoint with a key not named after the origin")
	}
}

func TestNewSignerDoesNotQuoteKey(t *testing.T) {
	skey, _, err := GenerateKey(nil, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	bad := skey[:len(skey)-3] + "!!!"
	_, err = NewSigner(bad)
	if err == nil {
		t.Fatal("NewSigner accepted a malformed key")
	}
	// PRIVATE+KEY+<name>+<hash>+<key>; the key's base64 may hold '+'.
	if k := strings.SplitN(skey, "+", 5)[4]; strings.Contains(err.Error(), k[:10]) {
		t.Fatalf("error quotes the key: %v", err)
	}
}

// acceptAll verifies every signature: FuzzParseCheckpoint uses it so that
// the fuzzer reaches the body parser with bodies it made up.
type acceptAll struct{}

const fuzzOrigin = "fuzz.example/log"

func (acceptAll) Name() string                { return fuzzOrigin }
func (acceptAll) KeyHash() uint32             { return 1 }
func (acceptAll) Verify(msg, sig []byte) bool { return true }

func fuzzSigLine() string {
	var b [5]byte
	binary.BigEndian.PutUint32(b[:], 1)
	return "— " + fuzzOrigin + " " + base64.StdEncoding.EncodeToString(b[:]) + "\n"
}

// FuzzParseCheckpoint: no input panics; whatever is accepted has a 32-byte
// root, a body that starts with its canonical encoding, a signature by its
// origin, and parses again to the same checkpoint.
func FuzzParseCheckpoint(f *testing.F) {
	s, v, _ := testKey(f, testOrigin, 7)
	verifiers := note.VerifierList(v, acceptAll{})
	f.Add([]byte(katCheckpoint))
	cp, _ := SignCheckpoint(s, testOrigin, 0, [32]byte{})
	f.Add(cp.Note)
	rootB64 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Add([]byte(fuzzOrigin + "\n7\n" + rootB64 + "\n\n" + fuzzSigLine()))
	f.Add([]byte(fuzzOrigin + "\n7\n" + rootB64 + "\nextension\n\n" + fuzzSigLine()))
	f.Add([]byte(fuzzOrigin + "\n07\n" + rootB64 + "\n\n" + fuzzSigLine()))
	f.Fuzz(func(t *testing.T, text []byte) {
		cp, err := ParseCheckpoint(text, verifiers)
		if err != nil {
			return
		}
		if !bytes.Equal(cp.Note, text) {
			t.Fatal("Note is not the parsed text")
		}
		n, err := note.Open(text, verifiers)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(n.Text, string(cp.Log().Marshal())) {
			t.Fatalf("body %q does not start with the canonical encoding of %+v", n.Text, cp)
		}
		again, err := ParseCheckpoint(cp.Note, verifiers)
		if err != nil || again.Origin != cp.Origin || again.Size != cp.Size || again.Root != cp.Root {
			t.Fatalf("second parse: %+v, %v", again, err)
		}
	})
}
