package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Fuzz tests of the stored-value decoder (openBytes, decodeJSON and the
// record openers over them) and of the search side (blind indexes of a
// stored patient against those of a query). They live in the package to
// reach the unexported decoder; keys come from internal/keys as in
// production.

const (
	fuzzPatient = "fuzz-patient"
	fuzzRecord  = "fuzz-record"
)

// fuzzKeys returns a keyring over a fresh file KEK with the blind-index key
// loaded, and the AEAD of a new patient keyset.
func fuzzKeys(t testing.TB) (*keys.Keyring, tink.AEAD) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := keys.CreateFile(path, nil); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Open(keys.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	wk, err := k.NewSystemKey(IndexKeyName)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.LoadIndexKey(wk); err != nil {
		t.Fatal(err)
	}
	_, a, err := k.NewPatientKey(fuzzPatient)
	if err != nil {
		t.Fatal(err)
	}
	return k, a
}

var fuzzKinds = []confidant.BlobKind{
	confidant.BlobPatient, confidant.BlobNoteVersion, confidant.BlobProcessNote, confidant.BlobDiagnosis,
	confidant.BlobPlan, confidant.BlobMeasure, confidant.BlobAttachment, confidant.BlobAttachmentChunk,
	confidant.BlobBreakGlass, confidant.BlobIncidentLetter,
}

// fuzzPlace is the place every fuzzed value is sealed for.
func fuzzPlace(kind confidant.BlobKind) (patientID, id string, sub int) {
	switch kind {
	case confidant.BlobPatient:
		return fuzzPatient, fuzzPatient, 0
	case confidant.BlobNoteVersion:
		return fuzzPatient, fuzzRecord, 1
	case confidant.BlobAttachmentChunk:
		return fuzzPatient, fuzzRecord, 3
	}
	return fuzzPatient, fuzzRecord, 0
}

// payloads returns a fresh value of the payload type of each JSON kind.
func payload(kind confidant.BlobKind) any {
	switch kind {
	case confidant.BlobPatient:
		return new(patientData)
	case confidant.BlobNoteVersion:
		return new(noteData)
	case confidant.BlobProcessNote:
		return new(processNoteData)
	case confidant.BlobDiagnosis:
		return new(diagnosisData)
	case confidant.BlobPlan:
		return new(planData)
	case confidant.BlobMeasure:
		return new(measureData)
	case confidant.BlobAttachment:
		return new(attachmentData)
	case confidant.BlobBreakGlass:
		return new(breakGlassData)
	case confidant.BlobIncidentLetter:
		return new(letterBody)
	}
	return nil // chunks are raw bytes
}

// samplePayloads are valid plaintexts of each kind.
var samplePayloads = map[confidant.BlobKind]any{
	confidant.BlobPatient: patientData{Given: "Aino", Family: "Äijälä", Code: "010190-902S", Birth: "1990-01-01T00:00:00Z",
		Phone: "+358 40 123 4567", Email: "aino@example.org", Address: "Mannerheimintie 1\n00100 Helsinki"},
	confidant.BlobNoteVersion:    noteData{Body: "Subjective: slept badly", Reason: "dose was wrong"},
	confidant.BlobProcessNote:    processNoteData{Body: "my own thoughts"},
	confidant.BlobDiagnosis:      diagnosisData{Code: "F32.1", Title: "Moderate depressive episode", Note: "since spring"},
	confidant.BlobPlan:           planData{Goals: "sleep", Interventions: "CBT-I", ReviewOn: "2026-01-02T00:00:00Z"},
	confidant.BlobMeasure:        measureData{Answers: []int{3, 2, 1, 0, 3, 2, 1, 0, 1}, Score: 13, Severity: "moderate"},
	confidant.BlobAttachment:     attachmentData{Filename: "letter.pdf", SHA256: bytes.Repeat([]byte{0xAB}, 32)},
	confidant.BlobBreakGlass:     breakGlassData{Reason: "suicidal statements on the phone", Comment: "agreed"},
	confidant.BlobIncidentLetter: letterBody{Texts: []confidant.LetterText{{Lang: "fi", Subject: "Ilmoitus", Body: "Hyvä vastaanottaja"}}},
}

// oneRow is a SealedTx that holds one row of each list the record
// openers read; anything else panics (nil embedded interface).
type oneRow struct {
	confidant.SealedTx
	key      confidant.WrappedKey
	process  confidant.SealedProcessNote
	plan     confidant.SealedPlan
	measure  confidant.SealedMeasure
	attached []byte
}

func (r oneRow) PatientKey(context.Context, string) (confidant.WrappedKey, error) { return r.key, nil }
func (r oneRow) ListProcessNotes(context.Context, string, string) ([]confidant.SealedProcessNote, error) {
	return []confidant.SealedProcessNote{r.process}, nil
}
func (r oneRow) ListPlans(context.Context, string) ([]confidant.SealedPlan, error) {
	return []confidant.SealedPlan{r.plan}, nil
}
func (r oneRow) ListMeasures(context.Context, string) ([]confidant.SealedMeasure, error) {
	return []confidant.SealedMeasure{r.measure}, nil
}
func (r oneRow) AttachmentChunk(context.Context, string, int) ([]byte, error) { return r.attached, nil }

// openRecord opens sealed as the record of kind at its fuzz place through
// the same code the store's read methods use.
func openRecord(a tink.AEAD, kind confidant.BlobKind, sealed []byte) (any, error) {
	ctx := context.Background()
	pid, id, sub := fuzzPlace(kind)
	row := oneRow{}
	t := &tx{SealedTx: &row, s: &Store{}, aeads: map[string]tink.AEAD{pid: a}}
	switch kind {
	case confidant.BlobPatient:
		return t.openPatient(ctx, confidant.SealedPatient{ID: pid, Data: sealed})
	case confidant.BlobNoteVersion:
		return t.openNote(ctx, confidant.SealedNote{ID: id, PatientID: pid, Versions: []confidant.SealedNoteVersion{{Version: sub, Data: sealed}}})
	case confidant.BlobProcessNote:
		row.process = confidant.SealedProcessNote{ID: id, PatientID: pid, Data: sealed}
		return t.ListProcessNotes(ctx, pid, "author")
	case confidant.BlobDiagnosis:
		return t.openDiagnosis(ctx, confidant.SealedDiagnosis{ID: id, PatientID: pid, Data: sealed})
	case confidant.BlobPlan:
		row.plan = confidant.SealedPlan{ID: id, PatientID: pid, Data: sealed}
		return t.ListPlans(ctx, pid)
	case confidant.BlobMeasure:
		row.measure = confidant.SealedMeasure{ID: id, PatientID: pid, Data: sealed}
		return t.ListMeasures(ctx, pid)
	case confidant.BlobAttachment:
		return t.openAttachment(ctx, confidant.SealedAttachment{ID: id, PatientID: pid, Data: sealed})
	case confidant.BlobAttachmentChunk:
		row.attached = sealed
		return t.AttachmentChunk(ctx, pid, id, sub)
	case confidant.BlobBreakGlass:
		return t.openBreakGlass(ctx, confidant.SealedBreakGlass{ID: id, PatientID: pid, Data: sealed})
	case confidant.BlobIncidentLetter:
		return t.openLetter(ctx, confidant.SealedIncidentLetter{ID: id, PatientID: pid, Data: sealed})
	}
	panic("unknown kind " + kind)
}

// FuzzOpen feeds arbitrary bytes to the decoder of stored values:
//
//   - as stored (sealed) data of every kind: the read fails with an
//     integrity error, never panics, unless the bytes are exactly a value
//     sealed for that place (a seed);
//   - as the authenticated plaintext of every kind (what a buggy or newer
//     writer could have sealed): the record openers fail with an
//     integrity error or succeed, never panic, and what decodeJSON accepts
//     is exactly one JSON value that re-encodes to an equal payload;
//   - as plaintext: sealing then opening gives the bytes back, and opening
//     them at another place fails.
func FuzzOpen(f *testing.F) {
	_, a := fuzzKeys(f)
	valid := map[string]confidant.BlobKind{}
	for i, kind := range fuzzKinds {
		pid, id, sub := fuzzPlace(kind)
		var sealed []byte
		var err error
		if p, ok := samplePayloads[kind]; ok {
			sealed, err = sealJSON(a, p, kind, pid, id, sub)
			b, _ := json.Marshal(p)
			f.Add(b, uint8(i))
		} else {
			sealed, err = sealBytes(a, []byte("%PDF-1.7 chunk"), kind, pid, id, sub)
		}
		if err != nil {
			f.Fatal(err)
		}
		valid[string(sealed)] = kind
		f.Add(sealed, uint8(i))
		f.Add(sealed[:len(sealed)-1], uint8(i))
	}
	for _, s := range []string{"", "\x01", "\x01\x01\x00\x00\x00\x01", `{"b":"x"}}`, `{"b":"x"}]`, `{"b":"x"} {"b":"y"}`,
		`{"b":"x","z":1}`, `{"g":"a","f":"b","c":"c","b":"not a date"}`, `{"r":"2026-13-45"}`, `{"a":[1e400]}`, `null`, "{\"b\":\"\xff\"}"} {
		for i := range fuzzKinds {
			f.Add([]byte(s), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		pid, id, sub := fuzzPlace(kind)

		// Arbitrary bytes as stored data.
		got, err := openRecord(a, kind, data)
		if err == nil {
			if valid[string(data)] != kind {
				t.Fatalf("%s: arbitrary stored bytes opened: %+v", kind, got)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("%s: stored bytes: %v, want an integrity error", kind, err)
		}

		// Arbitrary bytes as an authenticated payload.
		sealed, err := sealBytes(a, data, kind, pid, id, sub)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openRecord(a, kind, sealed); err != nil && !IsIntegrityError(err) {
			t.Fatalf("%s: authenticated payload: %v, want success or an integrity error", kind, err)
		}
		if v := payload(kind); v != nil {
			if err := decodeJSON(data, v); err == nil {
				if !json.Valid(data) {
					t.Fatalf("%s: decodeJSON accepted %q, which is not one JSON value", kind, data)
				}
				again, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				w := payload(kind)
				if err := decodeJSON(again, w); err != nil || !reflect.DeepEqual(v, w) {
					t.Fatalf("%s: payload %+v re-encoded as %s decodes to %+v, %v", kind, v, again, w, err)
				}
			} else if !IsIntegrityError(err) {
				t.Fatalf("%s: decodeJSON: %v, want an integrity error", kind, err)
			}
		}

		// Plaintext round trip, and the place binding.
		pt, err := openBytes(a, sealed, kind, pid, id, sub)
		if err != nil || !bytes.Equal(pt, data) {
			t.Fatalf("%s: round trip = %q, %v; want %q", kind, pt, err, data)
		}
		if _, err := openBytes(a, sealed, kind, pid, id, sub+1); !IsIntegrityError(err) {
			t.Fatalf("%s: opened at another sub: %v", kind, err)
		}
		if utf8.Valid(data) {
			// A valid UTF-8 string field round-trips through sealJSON.
			s, err := sealJSON(a, processNoteData{Body: string(data)}, kind, pid, id, sub)
			if err != nil {
				t.Fatal(err)
			}
			var d processNoteData
			if err := openJSON(a, s, &d, kind, pid, id, sub); err != nil || d.Body != string(data) {
				t.Fatalf("%s: string field round trip = %q, %v", kind, d.Body, err)
			}
		}
	})
}

// FuzzSearchIndex checks the search side: for any family name, birth
// year and time zone of the birth date, the blind indexes stored with a
// patient equal those of a query by that family name (spaced and cased
// differently) and the year of the birth date as read back, and the exact
// comparison accepts the patient read back. It must never panic.
func FuzzSearchIndex(f *testing.F) {
	k, _ := fuzzKeys(f)
	t0 := &tx{s: &Store{keys: k}}
	for _, s := range []string{"Virtanen", "Äijälä", "von  Wright", " ", "", "ǅemal", "İnci", "\xff"} {
		f.Add(s, int16(1985), int16(120))
	}
	f.Add("Vuosi", int16(1985), int16(-600))
	f.Add("Vuosi", int16(0), int16(0))
	f.Add("Vuosi", int16(-5), int16(840))
	f.Fuzz(func(t *testing.T, family string, year, offsetMinutes int16) {
		zone := time.FixedZone("fuzz", int(offsetMinutes%(18*60))*60)
		p := confidant.Patient{FamilyName: family, IdentityCode: family, BirthDate: time.Date(int(year), 1, 1, 0, 30, 0, 0, zone)}
		identity, surname, surnameYear, _, err := t0.indexes(p)
		if err != nil {
			t.Fatal(err)
		}
		// The patient as read back: the birth date in UTC.
		stored := p
		stored.BirthDate = p.BirthDate.UTC()
		y := stored.BirthDate.Year()
		if y == 0 {
			return // BirthYear 0 means "no year" in a filter
		}
		query := "  " + strings.ToUpper(family) + " "
		if confidant.NormalizeName(query) != confidant.NormalizeName(family) {
			query = family // case folding is not reversible for every rune
		}
		for _, tc := range []struct {
			f    confidant.PatientFilter
			want []byte
			got  func(confidant.SealedPatientFilter) []byte
		}{
			{confidant.PatientFilter{IdentityCode: family}, identity, func(sf confidant.SealedPatientFilter) []byte { return sf.IdentityIndex }},
			{confidant.PatientFilter{FamilyName: query}, surname, func(sf confidant.SealedPatientFilter) []byte { return sf.SurnameIndex }},
			{confidant.PatientFilter{FamilyName: query, BirthYear: y}, surnameYear, func(sf confidant.SealedPatientFilter) []byte { return sf.SurnameYearIndex }},
		} {
			if tc.f.IdentityCode == "" && tc.f.FamilyName == "" {
				continue
			}
			sf, exact, err := t0.sealedFilter(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !exact || !bytes.Equal(tc.got(sf), tc.want) {
				t.Errorf("query %+v: index %x, stored %x", tc.f, tc.got(sf), tc.want)
			}
			if !matches(stored, tc.f) {
				t.Errorf("query %+v does not match the patient read back (birth %v)", tc.f, stored.BirthDate)
			}
		}
	})
}

// FuzzOpenIncident: the incident body and history decoders never panic on
// stored bytes, and what opens is only what was sealed for that place.
func FuzzOpenIncident(f *testing.F) {
	_, a := fuzzKeys(f)
	body, err := sealWith(a, incidentBody{Title: "Laptop", AlertIDs: []string{"a"}}, incidentAD("inc"))
	if err != nil {
		f.Fatal(err)
	}
	ev, err := sealWith(a, incidentEventBody{Text: "decision", Time: "2026-01-02T03:04:05Z"}, incidentEventAD("inc", 2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body, false)
	f.Add(ev, true)
	f.Add([]byte{1}, false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, sealed []byte, event bool) {
		if event {
			var b incidentEventBody
			if err := openWith(a, sealed, &b, incidentEventAD("inc", 2)); err == nil && !bytes.Equal(sealed, ev) {
				t.Fatalf("opened bytes that were not sealed here: %x", sealed)
			}
			return
		}
		var b incidentBody
		if err := openWith(a, sealed, &b, incidentAD("inc")); err == nil && !bytes.Equal(sealed, body) {
			t.Fatalf("opened bytes that were not sealed here: %x", sealed)
		}
	})
}
