package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		ctype string
		body  string
		into  any
		want  any    // on success
		code  string // on failure
	}{
		{"ok", "application/json", `{"username":"a","password":"b"}`, &loginRequest{}, &loginRequest{Username: "a", Password: "b"}, ""},
		{"ok with charset", "application/json; charset=UTF-8", `{"username":"a"}`, &loginRequest{}, &loginRequest{Username: "a"}, ""},
		{"whitespace after", "application/json", "{\"body\":\"x\"}\n\t ", &noteRequest{}, &noteRequest{Body: "x"}, ""},
		{"null fields", "application/json", `{"instrument":null,"answers":null}`, &measureRequest{}, &measureRequest{}, ""},
		{"nested arrays", "application/json", `{"answers":[0,1,2,3]}`, &measureRequest{}, &measureRequest{Answers: ints(0, 1, 2, 3)}, ""},
		{"null answer", "application/json", `{"answers":[0,null,2]}`, &measureRequest{}, &measureRequest{Answers: []*int{ptr(0), nil, ptr(2)}}, ""},
		{"pointer bool", "application/json", `{"disabled":false}`, &staffUpdateRequest{}, &staffUpdateRequest{Disabled: new(bool)}, ""},
		{"text/json", "text/json", `{}`, &loginRequest{}, nil, "unsupported_media_type"},
		{"no type", "", `{}`, &loginRequest{}, nil, "unsupported_media_type"},
		{"bad type header", "application/json; ===", `{}`, &loginRequest{}, nil, "unsupported_media_type"},
		{"empty", "application/json", ``, &loginRequest{}, nil, "malformed_json"},
		{"null", "application/json", `null`, &loginRequest{}, &loginRequest{}, ""},
		{"number", "application/json", `42`, &loginRequest{}, nil, "malformed_json"},
		{"truncated", "application/json", `{"username":`, &loginRequest{}, nil, "malformed_json"},
		{"two objects", "application/json", `{}{}`, &loginRequest{}, nil, "malformed_json"},
		{"unknown", "application/json", `{"user":"a"}`, &loginRequest{}, nil, "unknown_field"},
		{"unknown, odd name", "application/json", `{"a b\u0000c":"a"}`, &loginRequest{}, nil, "unknown_field"},
		{"float for int", "application/json", `{"version":1.5}`, &draftRequest{}, nil, "malformed_json"},
		{"huge int", "application/json", `{"version":99999999999999999999999}`, &draftRequest{}, nil, "malformed_json"},
		{"string for bool", "application/json", `{"disabled":"yes"}`, &staffUpdateRequest{}, nil, "malformed_json"},
		{"object for string", "application/json", `{"clinic_ids":[{}]}`, &staffRequest{}, nil, "malformed_json"},
		{"too large", "application/json", `{"body":"` + strings.Repeat("x", maxBody) + `"}`, &noteRequest{}, nil, "too_large"},
		{"too large trailing", "application/json", `{"body":"x"}` + strings.Repeat(" ", maxBody), &noteRequest{}, nil, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			err := decode(httptest.NewRecorder(), r, tc.into)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if diff := cmp.Diff(tc.want, tc.into); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			if got := confidant.CodeOf(err); got != tc.code {
				t.Errorf("code %q, want %q (err %v)", got, tc.code, err)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bodies to the decoder for every request
// struct. It must never panic; every input either decodes (and then
// survives a round trip through JSON unchanged) or yields a *confidant.Error
// with a 4xx status whose message does not repeat the input.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"username":"a","password":"b"}`,
		`{"mfa_token":"t","code":"123 456"}`,
		`{"clinic_id":"x","given_name":"Aino","family_name":"Äijälä","identity_code":"010190-902S"}`,
		`{"body":"x","template":"soap","session_at":"2025-01-31T14:00:00Z"}`,
		`{"version":1,"template":"free","body":"x"}`,
		`{"instrument":"phq9","answers":[0,1,2,3,0,1,2,3,0],"taken_at":""}`,
		`{"username":"u","display_name":"d","role":"therapist","clinic_ids":["a","b"],"password":"p"}`,
		`{"display_name":"d","clinic_ids":[],"disabled":true}`,
		`{"patient_id":"p","therapist_id":"t","from":"2025-01-01T00:00:00Z"}`,
		`{"goals":"g","interventions":"i","review_on":"2025-06-30"}`,
		`{"category":"risk_to_life","reason":"called the crisis line","code":"123456"}`,
		`{"outcome":"not_justified","comment":"no contact recorded"}`,
		`{"version":1e400}`, `{"answers":[1,"2"]}`, `{"answers":[1,null,3]}`, `{"a":1}`, `[]`, `null`, `{} x`, `{"body":"\ud800"}`,
		"{\"body\":\"\xff\"}", `{"body":"x","body":"y"}`, ``, `{`, `"`, `{"disabled":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A measure's answers: a null is refused, never scored as 0.
		var m measureRequest
		r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(data))
		r.Header.Set("Content-Type", "application/json")
		if decode(httptest.NewRecorder(), r, &m) == nil {
			as, err := m.answers()
			if slices.Contains(m.Answers, nil) != (err != nil) || confidant.CodeOf(err) != "missing_answer" && err != nil {
				t.Fatalf("answers %v: %v", m.Answers, err)
			}
			for i, a := range as {
				if *m.Answers[i] != a {
					t.Fatalf("answer %d changed", i)
				}
			}
		}
		for _, rt := range requestTypes {
			typ := reflect.TypeOf(rt)
			v := reflect.New(typ).Interface()
			r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(data))
			r.Header.Set("Content-Type", "application/json")
			err := decode(httptest.NewRecorder(), r, v)
			if err != nil {
				var ce *confidant.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s: error %T is not a *confidant.Error: %v", typ, err, err)
				}
				if st := httpx.Status(err); st < 400 || st > 499 {
					t.Fatalf("%s: status %d for %v", typ, st, err)
				}
				// A message holding the input repeats it, unless the input
				// happens to be a piece of a fixed text: the message for the
				// input with its letters shifted (the same shape, other
				// words) is then the same.
				if msg := confidant.MessageOf(err); len(data) >= 8 && strings.Contains(msg, string(data)) {
					r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(shiftLetters(data)))
					r.Header.Set("Content-Type", "application/json")
					if confidant.MessageOf(decode(httptest.NewRecorder(), r, reflect.New(typ).Interface())) != msg {
						t.Fatalf("%s: message %q repeats the input", typ, msg)
					}
				}
				continue
			}
			// A decoded request survives a round trip.
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: marshal: %v", typ, err)
			}
			w := reflect.New(typ).Interface()
			if err := decodeJSON(bytes.NewReader(b), w); err != nil {
				t.Fatalf("%s: re-decode %s: %v", typ, b, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%s: round trip changed %+v to %+v", typ, v, w)
			}
		}
	})
}

// TestRequestTypesAreStrict checks that every request struct has a JSON
// name on every field, so that DisallowUnknownFields and the docs agree.
func TestRequestTypesAreStrict(t *testing.T) {
	for _, rt := range requestTypes {
		typ := reflect.TypeOf(rt)
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			if tag == "" || tag == "-" || strings.Contains(tag, ",") {
				t.Errorf("%s.%s: json tag %q; want a plain snake_case name", typ.Name(), f.Name, tag)
			}
		}
	}
}

func ptr(i int) *int { return &i }

func ints(xs ...int) []*int {
	out := make([]*int, len(xs))
	for i := range xs {
		out[i] = ptr(xs[i])
	}
	return out
}

// shiftLetters returns data with every ASCII letter replaced by the next
// one (z by a): the same shape, other words.
func shiftLetters(data []byte) []byte {
	out := bytes.Clone(data)
	for i, c := range out {
		switch {
		case c == 'z':
			out[i] = 'a'
		case c == 'Z':
			out[i] = 'A'
		case c >= 'a' && c < 'z' || c >= 'A' && c < 'Z':
			out[i] = c + 1
		}
	}
	return out
}
