package service_test

import (
	"fmt"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestIdentityCodeTakenIsOnThePatientsLog: registering an identity code
// that a patient of another clinic has is refused, and the refusal is an
// event on that patient's access history, with the actor and the clinic
// they tried; nothing is created.
func TestIdentityCodeTakenIsOnThePatientsLog(t *testing.T) {
	w := newWorld(t)
	l := testfix.Log(w.Store)
	_, err := w.Service.CreatePatient(w.As(w.TherapistB), service.PatientInput{
		GivenName: "Someone", FamilyName: "Else", IdentityCode: w.PatientA.IdentityCode,
	})
	wantCode(t, "a taken identity code", err, "identity_code_taken")
	evs, err := l.Query(t.Context(), confidant.EventFilter{PatientID: w.PatientA.ID, Action: service.ActIdentityCodeTaken, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ActorID != w.TherapistB.ID || evs[0].ClinicID != w.ClinicB.ID ||
		evs[0].Outcome != confidant.OutcomeDenied || evs[0].Role != confidant.RoleTherapist {
		t.Fatalf("events on the patient's log: %+v", evs)
	}
	// The patient sees it in their own access history.
	entries, err := w.Service.MyAccessLog(w.As(w.PatientUser), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == service.ActIdentityCodeTaken {
			found = true
		}
	}
	if !found {
		t.Fatal("the refused registration is not in the patient's access history")
	}
	// Nothing was registered.
	var n int
	if err := w.Store.View(t.Context(), func(tx confidant.Tx) error {
		ps, err := tx.ListPatients(t.Context(), confidant.PatientFilter{ClinicID: w.ClinicB.ID})
		n = len(ps)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("clinic B has %d patients, want only patient B", n)
	}
}

// TestRegistrationRateLimit: one account may attempt RegistrationsPerHour
// registrations an hour (refusals of taken identity codes included), then
// gets 429 until the hour has passed.
func TestRegistrationRateLimit(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	svc := clocked(t, w, &now)
	th := w.As(w.TherapistB)
	// Valid identity codes (the check character is the number DDMMYYNNN
	// modulo 31 in this alphabet).
	var codes []string
	for n := 900; n < 920; n++ {
		num := 150585*1000 + n
		codes = append(codes, fmt.Sprintf("150585-%03d%c", n, "0123456789ABCDEFHJKLMNPRSTUVWXY"[num%31]))
	}
	limit := service.DefaultConfig().RegistrationsPerHour
	tries := 1 // the fixture registered patient B as therapist B, just now
	// Refusals of a taken code count.
	for range 2 {
		_, err := svc.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: w.PatientA.IdentityCode})
		wantCode(t, "taken code", err, "identity_code_taken")
		tries++
		now = now.Add(time.Minute)
	}
	for _, code := range codes {
		if tries == limit {
			break
		}
		if _, err := svc.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: code}); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		tries++
		now = now.Add(time.Minute)
	}
	for tries < limit {
		_, err := svc.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: w.PatientB.IdentityCode})
		wantCode(t, "taken code", err, "identity_code_taken")
		tries++
	}
	_, err := svc.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: w.PatientA.IdentityCode})
	wantCode(t, "over the limit", err, "registration_rate_limited")
	if d, ok := confidant.RetryAfter(err); !ok || d <= 0 || d > time.Hour {
		t.Fatalf("Retry-After %v %v", d, ok)
	}
	// Another account is not limited.
	if _, err := svc.CreatePatient(w.As(w.Therapist), service.PatientInput{GivenName: "C", FamilyName: "D", IdentityCode: "121212-1214"}); err != nil &&
		confidant.CodeOf(err) != "invalid_identity_code" {
		t.Fatalf("another account: %v", err)
	}
	// An hour after the first attempt, the account may register again.
	now = now.Add(time.Hour)
	_, err = svc.CreatePatient(th, service.PatientInput{GivenName: "A", FamilyName: "B", IdentityCode: w.PatientA.IdentityCode})
	wantCode(t, "after an hour", err, "identity_code_taken")
}
