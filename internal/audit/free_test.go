package audit

import (
	"encoding/json"
	"testing"
)

// decodeFree must agree with json.Unmarshal on every input: the same
// result, and an error exactly when it fails.
func checkDecodeFree(t *testing.T, b []byte) {
	t.Helper()
	var want freeText
	wantErr := json.Unmarshal(b, &want)
	got, err := decodeFree(b)
	if (err != nil) != (wantErr != nil) || (wantErr == nil && got != want) {
		t.Errorf("decodeFree(%q) = %+v, %v; json.Unmarshal gives %+v, %v", b, got, err, want, wantErr)
	}
}

var freeSeeds = []string{
	`{}`, `{"p":"treatment"}`, `{"c":"192.0.2.1"}`, `{"p":"treatment","c":"192.0.2.1"}`,
	`{"p":"","c":""}`, `{"c":"x","p":"y"}`, `{"p":"a","p":"b"}`, `{"P":"a"}`, `{"p":"a",}`,
	`{"p":"a\u003cb"}`, `{"p":"a\"b"}`, `{"p":"a\nb"}`, "{\"p\":\"a\nb\"}", "{\"p\":\"\xff\"}",
	`{"p":"é ✓"}`, `{ "p":"a"}`, `{"p":"a"} `, `{"p":"a"}}`, `{"p":1}`, `{"x":"a"}`, `{"p":"a","c":"b","x":1}`,
	`{"p":"a""c":"b"}`, `{"p":"a"`, `{`, `}`, ``, `null`, `{"p":null}`, `{"c":"a"`, `{"p":"a,"c":"b"}`,
	// Version 2: the salt.
	`{"p":"treatment","c":"192.0.2.1","s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`,
	`{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`, `{"c":"x","s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`,
	`{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=","p":"a"}`, `{"p":"a","s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",}`,
	`{"s":""}`, `{"s":"AAAA"}`, `{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"}`, `{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9="}`,
	`{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=ICEi"}`, `{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0\nNTY3ODk6Ozw9Pj8="}`,
	`{"s":null}`, `{"s":[1,2]}`, `{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=","s":"AAAA"}`, `{"S":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`,
	`{"s":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
	// Version 3: the record version and digest.
	`{"c":"192.0.2.1","s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=","v":2,"d":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`,
	`{"s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=","d":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`,
	`{"v":-1}`, `{"v":1.5}`, `{"v":"2"}`, `{"d":"AAAA"}`, `{"v":18446744073709551616}`,
}

func TestDecodeFree(t *testing.T) {
	for _, s := range freeSeeds {
		checkDecodeFree(t, []byte(s))
	}
	var s salt
	for i := range s {
		s[i] = byte(32 + i)
	}
	for _, f := range []freeText{{}, {Purpose: "treatment"}, {Client: "192.0.2.1"}, {Purpose: "a<b>&\"\\\n\x00\u2028", Client: "\xff"},
		{Salt: s}, {Purpose: "treatment", Client: "192.0.2.1", Salt: s}, {Client: "\u2028", Salt: s},
		{Client: "192.0.2.1", Salt: s, Version: 3, Digest: s}} {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeFree(t, b)
	}
}

func FuzzDecodeFree(f *testing.F) {
	for _, s := range freeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeFree(t, b) })
}

// TestFreeTextSalt: the salt goes into free text and comes back, through
// the direct reading, and free text without one has none (version 1).
func TestFreeTextSalt(t *testing.T) {
	var s salt
	for i := range s {
		s[i] = byte(32 + i)
	}
	f := freeText{Purpose: "treatment", Client: "192.0.2.1", Salt: s}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p":"treatment","c":"192.0.2.1","s":"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="}`; string(b) != want {
		t.Fatalf("json.Marshal = %s, want %s", b, want)
	}
	if got, ok := decodeFreePlain(b); !ok || got != f {
		t.Fatalf("decodeFreePlain = %+v, %v", got, ok)
	}
	if b, _ := json.Marshal(freeText{Purpose: "x"}); string(b) != `{"p":"x"}` {
		t.Errorf("free text without a salt: %s", b)
	}
}
