package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// katEventV3 is the "read" event of the version 1 and 2 vectors, written as
// a version 3 record write: note version 2, the digest of the sealed bytes
// "sealed note v2".
func katEventV3() Event {
	e := katEvents[0].event
	e.Version = 0
	e = e.Conceal(katSalt())
	e.Version, e.RecordVersion, e.RecordDigest = EventV3, 2, sha256.Sum256([]byte("sealed note v2"))
	return e
}

// Known answers of version 3, reproduced by the independent Python encoder
// testdata/katgen.py; the test also checks them against the version 2
// vector they extend, so that the layout is what docs/AUDIT.md says.
const (
	katV3Canonical = "03000000000000000700064bf5b2a986140773746166662d310974686572617069737408636c696e69632d31096e6f74652e726561640970617469656e742d31066e6f74652d310463617265026f6b47eb51ab7e9d974cf3c16e650f85d6904e09f9be6e0c93199d157d838b6ec9c51bb6456cf5c999620b789f416b814dc1c1a75b96603a0fd0fe168999435fdfc0000000000000000300000000000000050000000000000002cd269d6261ddb5d002cfb6068a73eb139ad2f721ac2c40a45e0593cab53fd3dd"
	katV3Commit    = "14a03483fa17291cab61a78453772a2cd6f852a6349de6ac358f46ceb66a605e"
	katV3Merkle    = "03442bae3d88fc8b874996092a55b94d0c87c26745444c76f893f6cd2efa41c4"
)

func TestCanonicalKnownAnswersV3(t *testing.T) {
	e := katEventV3()
	got, err := e.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, katV3Canonical); !bytes.Equal(got, want) {
		t.Fatalf("MarshalCanonical:\n got %x\nwant %x", got, want)
	}
	// Layout: version 2's encoding with version byte 3, then the record
	// version (big-endian uint64) and the 32-byte digest.
	v2 := mustHex(t, katEventsV2[0].canonical)
	want := append([]byte{EventV3}, v2[1:]...)
	want = binary.BigEndian.AppendUint64(want, 2)
	d := sha256.Sum256([]byte("sealed note v2"))
	want = append(want, d[:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("the version 3 encoding is not version 2's followed by the record version and digest")
	}
	c := LeafHash(katNonce(), got)
	if hex.EncodeToString(c[:]) != katV3Commit {
		t.Errorf("LeafHash = %x", c)
	}
	if l := MerkleLeafHash(c); hex.EncodeToString(l[:]) != katV3Merkle {
		t.Errorf("MerkleLeafHash = %x", l)
	}
	back, err := UnmarshalCanonical(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("UnmarshalCanonical round trip (-want +got):\n%s", diff)
	}
	// The digest is committed to: another digest, another leaf.
	e2 := e
	e2.RecordDigest[0] ^= 1
	b2, err := e2.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	if LeafHash(katNonce(), b2) == c {
		t.Error("changing the record digest leaves the commitment unchanged")
	}
}

func TestCanonicalV3Rejects(t *testing.T) {
	e := katEventV3()
	e.Version = EventV2
	if _, err := e.MarshalCanonical(); err == nil {
		t.Error("a version 2 event with a record digest encoded")
	}
	good, err := katEventV3().MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"as v2":     append([]byte{EventV2}, good[1:]...),
	} {
		if _, err := UnmarshalCanonical(b); !errors.Is(err, ErrEventMalformed) {
			t.Errorf("%s: err = %v, want ErrEventMalformed", name, err)
		}
	}
	// A version 2 encoding read as version 3 is too short.
	v2 := mustHex(t, katEventsV2[0].canonical)
	if _, err := UnmarshalCanonical(append([]byte{EventV3}, v2[1:]...)); !errors.Is(err, ErrEventMalformed) {
		t.Errorf("version 2 bytes as version 3: err = %v", err)
	}
}
