package auditlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
)

// bundleFixture builds a log of 300 events, signs a checkpoint at its size
// and returns the bundle of event 123.
func bundleFixture(t testing.TB) (Bundle, *memLog, Signer, note.Verifiers) {
	t.Helper()
	m, roots := buildLog(t, 300, 7, 11)
	s, v, _ := testKey(t, testOrigin, 7)
	cp, err := SignCheckpoint(s, testOrigin, 300, roots[300])
	if err != nil {
		t.Fatal(err)
	}
	se := m.events[123]
	b, err := NewBundle(t.Context(), m, Opening{Event: se.Event, Nonce: se.Nonce}, cp)
	if err != nil {
		t.Fatal(err)
	}
	return b, m, s, note.VerifierList(v)
}

func TestBundleRoundTrip(t *testing.T) {
	b, m, _, vs := bundleFixture(t)
	e, err := CheckBundle(b, vs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := UnmarshalCanonical(m.events[123].Event)
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("CheckBundle event (-want +got):\n%s", diff)
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(js, []byte(`{"version":1,"index":123,"size":300,"event":"`)) {
		t.Errorf("JSON starts %.60s", js)
	}
	var back Bundle
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, back); diff != "" {
		t.Fatalf("JSON round trip (-want +got):\n%s", diff)
	}
	if _, err := CheckBundle(back, vs); err != nil {
		t.Fatal(err)
	}
}

func TestBundleTamper(t *testing.T) {
	_, _, _, vs := bundleFixture(t)
	other, _, _ := testKey(t, testOrigin, 8)
	tests := []struct {
		name   string
		tamper func(b *Bundle, m *memLog)
	}{
		{"wrong nonce", func(b *Bundle, m *memLog) { b.Nonce[3] ^= 1 }},
		{"another event's nonce", func(b *Bundle, m *memLog) { b.Nonce = m.events[124].Nonce }},
		{"edited event", func(b *Bundle, m *memLog) {
			e, _ := b.Decode()
			e.ActorID = "someone-else"
			b.Event, _ = e.MarshalCanonical()
		}},
		{"another event", func(b *Bundle, m *memLog) {
			b.Opening = Opening{Event: m.events[124].Event, Nonce: m.events[124].Nonce}
		}},
		{"another event at its index", func(b *Bundle, m *memLog) {
			b.Opening = Opening{Event: m.events[124].Event, Nonce: m.events[124].Nonce}
			b.Index = 124
		}},
		{"wrong index", func(b *Bundle, m *memLog) { b.Index = 122 }},
		{"wrong size", func(b *Bundle, m *memLog) { b.Size = 299 }},
		{"proof hash changed", func(b *Bundle, m *memLog) {
			b.InclusionProof[2] = bytes.Clone(b.InclusionProof[2])
			b.InclusionProof[2][0] ^= 1
		}},
		{"proof shortened", func(b *Bundle, m *memLog) { b.InclusionProof = b.InclusionProof[1:] }},
		{"checkpoint of a wrong key", func(b *Bundle, m *memLog) {
			cp, _ := ParseCheckpoint([]byte(b.Checkpoint), vs)
			forged, _ := SignCheckpoint(other, testOrigin, cp.Size, cp.Root)
			b.Checkpoint = string(forged.Note)
		}},
		{"checkpoint body edited", func(b *Bundle, m *memLog) {
			b.Checkpoint = strings.Replace(b.Checkpoint, "\n300\n", "\n301\n", 1)
			b.Size = 301
		}},
		{"checkpoint of another root", func(b *Bundle, m *memLog) {
			s, _, _ := testKey(t, testOrigin, 7)
			cp, _ := SignCheckpoint(s, testOrigin, 300, [32]byte{1})
			b.Checkpoint = string(cp.Note)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, m, _, _ := bundleFixture(t)
			tc.tamper(&b, m)
			if e, err := CheckBundle(b, vs); err == nil {
				t.Fatalf("CheckBundle accepted a tampered bundle: %+v", e)
			} else {
				t.Log(err)
			}
		})
	}
}

func TestNewBundleRefusesBadTiles(t *testing.T) {
	b, m, s, _ := bundleFixture(t)
	cp, _ := SignCheckpoint(s, testOrigin, 300, [32]byte{1})
	if _, err := NewBundle(t.Context(), m, b.Opening, cp); err == nil {
		t.Fatal("NewBundle built a bundle that does not verify against its checkpoint")
	}
}

func TestParseBundleRejects(t *testing.T) {
	b, _, _, _ := bundleFixture(t)
	good, _ := json.Marshal(b)
	edit := func(f func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	tests := map[string][]byte{
		"version 2":        edit(func(m map[string]any) { m["version"] = 2 }),
		"no version":       edit(func(m map[string]any) { delete(m, "version") }),
		"unknown field":    edit(func(m map[string]any) { m["extra"] = 1 }),
		"short nonce":      edit(func(m map[string]any) { m["nonce"] = "AAAA" }),
		"short proof hash": edit(func(m map[string]any) { m["inclusion_proof"] = []string{"AAAA"} }),
		"empty event":      edit(func(m map[string]any) { m["event"] = "" }),
		"index = size":     edit(func(m map[string]any) { m["index"] = 300 }),
		"no checkpoint":    edit(func(m map[string]any) { delete(m, "checkpoint") }),
		"negative index":   edit(func(m map[string]any) { m["index"] = -1 }),
		"trailing data":    append(bytes.Clone(good), []byte(" {}")...),
		"not an object":    []byte(`[]`),
		"too long":         append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxBundleSize)...),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseBundle(in); err == nil {
				t.Fatal("ParseBundle accepted it")
			}
		})
	}
	if _, err := ParseBundle(append(bytes.Clone(good), '\n')); err != nil {
		t.Errorf("a trailing newline: %v", err)
	}
}

// FuzzParseBundle: no input panics; whatever ParseBundle accepts encodes to
// JSON that parses back to the same bundle.
func FuzzParseBundle(f *testing.F) {
	b, _, _, _ := bundleFixture(f)
	good, _ := json.Marshal(b)
	f.Add(good)
	b.InclusionProof = nil
	empty, _ := json.Marshal(b)
	f.Add(empty)
	f.Add([]byte(`{"version":1,"index":0,"size":1,"event":"AQ==","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","inclusion_proof":null,"checkpoint":"x"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		if err != nil {
			return
		}
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBundle(out)
		if err != nil {
			t.Fatalf("re-encoded bundle rejected: %v\n%s", err, out)
		}
		if diff := cmp.Diff(b, back); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
