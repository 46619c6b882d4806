package auditlog

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const digestBody = "period 2026-11-30T00:00:00Z 2026-12-07T00:00:00Z\nalert no_care 3\nrecipients 2\n"

// A digest verifies with the log's key and gives its body back; tampered,
// signed by another key, or a checkpoint in its place, it fails; and a
// digest is never accepted as a checkpoint.
func TestDigest(t *testing.T) {
	s, v, _ := testKey(t, testOrigin, 7)
	_, other, _ := testKey(t, testOrigin, 8)
	signed, err := SignDigest(s, digestBody)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte(DigestHeader+"\n")) {
		t.Fatalf("digest does not start with the header: %q", signed[:40])
	}
	body, err := OpenDigest(signed, note.VerifierList(v))
	if err != nil || body != digestBody {
		t.Fatalf("OpenDigest: %q %v", body, err)
	}
	tampered := bytes.Replace(signed, []byte("no_care 3"), []byte("no_care 0"), 1)
	if _, err := OpenDigest(tampered, note.VerifierList(v)); err == nil {
		t.Error("a tampered digest verified")
	}
	if _, err := OpenDigest(signed, note.VerifierList(other)); err == nil {
		t.Error("a digest verified with another key")
	}
	if _, err := ParseCheckpoint(signed, note.VerifierList(v)); err == nil {
		t.Error("a digest was accepted as a checkpoint")
	}
	var root [32]byte
	cp, err := SignCheckpoint(s, testOrigin, 10, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDigest(cp.Note, note.VerifierList(v)); err == nil {
		t.Error("a checkpoint was accepted as a digest")
	}
	if _, err := SignDigest(s, "no newline"); err == nil {
		t.Error("a body without its final newline was signed")
	}
	named, _, _ := testKey(t, "confidant.example/"+strings.ReplaceAll(DigestHeader, " ", "-"), 9)
	if _, err := SignDigest(named, digestBody); err != nil {
		t.Errorf("an ordinary key name refused: %v", err)
	}
	if _, err := OpenDigest(bytes.Repeat([]byte("a"), MaxDigestSize+1), note.VerifierList(v)); err == nil {
		t.Error("an oversized digest was opened")
	}
}

// FuzzOpenDigest: any bytes are refused or opened without panicking, and
// what opens is the one body the key signed.
func FuzzOpenDigest(f *testing.F) {
	s, v, _ := testKey(f, testOrigin, 7)
	signed, err := SignDigest(s, digestBody)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(DigestHeader + "\n\n— x\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := OpenDigest(b, note.VerifierList(v))
		if err == nil && body != digestBody {
			t.Fatalf("opened a digest the key did not sign: %q", b)
		}
	})
}
