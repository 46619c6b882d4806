package service_test

import (
	"context"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestSearchRecordsWhomItFound: a search is recorded as its kind and the
// patients it found, each in their own access history, never as what was
// typed, in no column and not in the sealed text either; a search that
// finds nobody is one event without a patient.
func TestSearchRecordsWhomItFound(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	l := testfix.Log(w.Store)
	if l == nil {
		t.Fatal("the test store has no access log")
	}
	th := w.As(w.Therapist)
	pa := w.PatientA
	searches := []struct {
		q      string
		action string
		found  bool
	}{
		{"Äijälä 1990", service.ActSearchByName, true},
		{strings.ToLower(pa.IdentityCode), service.ActSearchByCode, true},
		{"Virtanen", service.ActSearchByName, false},        // outside care: found nobody
		{"030370-904K", service.ActSearchByCode, false},     // PatientC's code, outside care
		{"Nonexistentname", service.ActSearchByName, false}, // nobody at all
	}
	for _, s := range searches {
		before := logSize(t, l)
		ps, err := w.Service.SearchPatients(th, s.q)
		if err != nil || (len(ps) == 1) != s.found {
			t.Fatalf("a search (%s) found %d patients: %v", s.action, len(ps), err)
		}
		evs, err := l.Query(ctx, confidant.EventFilter{ActorID: w.Therapist.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var recorded []confidant.StoredEvent
		for _, e := range evs {
			if e.Index >= before {
				recorded = append(recorded, e)
			}
		}
		if len(recorded) != 1 {
			t.Fatalf("a search (%s) recorded %d events, want 1", s.action, len(recorded))
		}
		e := recorded[0]
		want := ""
		if s.found {
			want = pa.ID
		}
		if e.Action != s.action || e.PatientID != want || e.Outcome != confidant.OutcomeOK {
			t.Errorf("a search (%s) was recorded as %s, about the patient found: %v", s.action, e.Action, e.PatientID == want)
		}
		purpose, _, err := l.OpenFree(e)
		if err != nil || purpose != "" {
			t.Errorf("a search has a purpose (%v)", err)
		}
	}

	// What was typed, in any spelling, is in no stored event: neither in
	// its columns nor in its decrypted free text.
	typed := []string{"äijälä", "aijala", "1990", strings.ToLower(pa.IdentityCode), "010190", "virtanen", "030370", "nonexistentname"}
	all, err := l.Query(ctx, confidant.EventFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		purpose, client, err := l.OpenFree(e)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(strings.Join([]string{string(e.Role), e.Action, e.Outcome, e.SessionID, purpose, client}, "|"))
		// Ids are random base32 and hold a short run of digits by chance.
		ids := strings.Join([]string{e.ActorID, e.ClinicID, e.PatientID, e.RecordID}, "|")
		for _, s := range typed {
			if strings.Contains(text, s) || (len(s) >= 6 && strings.Contains(ids, s)) {
				t.Errorf("event %d (%s) holds a search term", e.Index, e.Action)
			}
		}
	}

	// The patient found sees both searches in their access history; the
	// searches that found nobody are in nobody's.
	mine, err := w.Service.MyAccessLog(w.As(w.PatientUser), 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range mine {
		if e.ActorID == w.Therapist.ID && (e.Action == service.ActSearchByName || e.Action == service.ActSearchByCode) {
			seen[e.Action]++
			if e.Purpose != "" {
				t.Errorf("the patient sees a purpose for a search")
			}
		}
	}
	if seen[service.ActSearchByName] != 1 || seen[service.ActSearchByCode] != 1 {
		t.Errorf("the patient's access history shows searches %v, want one of each kind", seen)
	}
	for _, a := range []string{service.ActSearchByName, service.ActSearchByCode} {
		evs, err := l.Query(ctx, confidant.EventFilter{Action: a, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.PatientID != "" && e.PatientID != pa.ID {
				t.Errorf("a search is in the history of a patient it did not find")
			}
		}
	}

	// The security officer sees kinds and patients, and no term.
	es, err := w.Service.AuditEvents(w.As(w.Security), service.AuditQuery{ActorID: w.Therapist.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == service.ActSearchByName || e.Action == service.ActSearchByCode {
			n++
			if e.Purpose != "" {
				t.Errorf("the security officer sees a purpose for a search")
			}
		}
	}
	if n != len(searches) {
		t.Errorf("the security officer sees %d searches, want %d", n, len(searches))
	}
}

// TestSearchRecordsEveryPatientFound: a search that finds several patients
// records one event for each, all committed before the results return.
func TestSearchRecordsEveryPatientFound(t *testing.T) {
	w := newWorld(t)
	l := testfix.Log(w.Store)
	th := w.As(w.Therapist)
	var ids []string
	for _, code := range []string{"150585-908X", "160686-906K"} {
		p, err := w.Service.CreatePatient(th, service.PatientInput{GivenName: "Ilmari", FamilyName: "Testinen", IdentityCode: code})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	ps, err := w.Service.SearchPatients(th, "testinen")
	if err != nil || len(ps) != 2 {
		t.Fatalf("search found %d: %v", len(ps), err)
	}
	for _, id := range ids {
		evs, err := l.Query(context.Background(), confidant.EventFilter{PatientID: id, Action: service.ActSearchByName, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].ActorID != w.Therapist.ID {
			t.Errorf("a patient found has %d search events (%v)", len(evs), err)
		}
	}
}

// logSize returns the number of events in the log.
func logSize(t *testing.T, l interface {
	Head(context.Context) (uint64, [32]byte, error)
}) uint64 {
	t.Helper()
	n, _, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
