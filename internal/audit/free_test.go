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
}

func TestDecodeFree(t *testing.T) {
	for _, s := range freeSeeds {
		checkDecodeFree(t, []byte(s))
	}
	for _, f := range []freeText{{}, {Purpose: "treatment"}, {Client: "192.0.2.1"}, {Purpose: "a<b>&\"\\\n\x00\u2028", Client: "\xff"}} {
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
