package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// A decoy is an ordinary patient of its clinic: the manager's list and
// search by name find it like any other; only security officers and the
// DPO see which patients are decoys; its creation event names no patient;
// and the honeytokens table of a stolen database does not hold the
// patient's id.
func TestHoneytokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confidant.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := testfix.Seal(t, db, testfix.Keyring(t))
	w := testfix.New(t, st)
	svc := w.Service
	dpo := w.DPO
	sec := w.As(w.Security)

	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser, dpo} {
		if _, err := svc.CreateHoneytoken(w.As(u), w.ClinicA.ID); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s creates a honeytoken: %v", u.Role, err)
		}
	}
	for _, u := range []confidant.User{w.Therapist, w.Manager, w.PatientUser} {
		if _, err := svc.ListHoneytokens(w.As(u)); confidant.KindOf(err) != confidant.KindPermission {
			t.Errorf("%s lists honeytokens: %v", u.Role, err)
		}
	}
	for _, c := range []string{"", "nonsense", confidant.NewID()} {
		if _, err := svc.CreateHoneytoken(sec, c); confidant.CodeOf(err) != "invalid_clinic" {
			t.Errorf("honeytoken in clinic %q: %v", c, err)
		}
	}

	h, err := svc.CreateHoneytoken(sec, w.ClinicA.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !confidant.ValidID(h.PatientID) || h.ClinicID != w.ClinicA.ID || h.CreatedBy != w.Security.ID || h.FamilyName == "" {
		t.Fatalf("honeytoken: %+v", h)
	}
	h2, err := svc.CreateHoneytoken(sec, w.ClinicB.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Like any other patient: the manager's clinic list and search by name.
	ps, err := svc.ClinicPatients(w.As(w.Manager), w.ClinicA.ID, "", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var decoy confidant.Patient
	for _, p := range ps {
		if p.ID == h.PatientID {
			decoy = p
		}
	}
	if decoy.ID == "" || len(ps) != 3 { // patients A and C, and the decoy
		t.Fatalf("clinic list: %d patients, decoy found %v", len(ps), decoy.ID != "")
	}
	if _, _, err := confidant.ParseIdentityCode(decoy.IdentityCode); err != nil || decoy.GivenName == "" || decoy.Address == "" {
		t.Errorf("decoy demographics: code %v, given %q, address %q", err, decoy.GivenName, decoy.Address)
	}
	found, err := svc.ClinicPatients(w.As(w.Manager), w.ClinicA.ID, decoy.FamilyName, 100, 0)
	if err != nil || !containsPatient(found, decoy.ID) {
		t.Errorf("search by name: %d found, %v", len(found), err)
	}
	care, err := svc.CareList(w.As(w.Manager), w.ClinicA.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range care {
		if c.PatientID == decoy.ID {
			t.Errorf("decoy has a care relationship: %+v", c)
		}
	}

	// Listed to security officers and the DPO.
	for _, u := range []confidant.User{w.Security, dpo} {
		hs, err := svc.ListHoneytokens(w.As(u))
		if err != nil || len(hs) != 2 || hs[0].PatientID != h2.PatientID || hs[1].PatientID != h.PatientID || hs[1].Tampered {
			t.Errorf("%s lists honeytokens: %+v, %v", u.Role, hs, err)
		}
	}
	ids, err := svc.HoneytokenIDs(context.Background())
	if err != nil || len(ids) != 2 || !ids[h.PatientID] || !ids[h2.PatientID] {
		t.Errorf("HoneytokenIDs: %v, %v", ids, err)
	}
	err = st.View(context.Background(), func(tx confidant.Tx) error {
		for id, want := range map[string]bool{h.PatientID: true, w.PatientA.ID: false, w.PatientC.ID: false} {
			got, err := svc.IsHoneytoken(context.Background(), tx, id)
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("IsHoneytoken(%s) = %v, want %v", id, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The creation event names the clinic and the honeytoken, no patient;
	// no event anywhere names the decoy.
	var evs []confidant.StoredEvent
	for _, e := range logEvents(t, st, service.ActHoneytokenCreate) {
		if e.PatientID != "" {
			t.Errorf("honeytoken.created event names a patient")
		}
		if e.Outcome == confidant.OutcomeOK {
			evs = append(evs, e)
		}
	}
	if len(evs) != 2 || evs[1].RecordID != h.ID || evs[1].ClinicID != w.ClinicA.ID || evs[0].RecordID != h2.ID {
		t.Errorf("honeytoken.created events: %d", len(evs))
	}
	all, err := testfix.Log(st).Query(context.Background(), confidant.EventFilter{PatientID: h.PatientID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Action != service.ActPatientsList && e.Action != service.ActSearchByName && e.Action != service.ActPatientsClinic {
			t.Errorf("event naming the decoy: %s", e.Action)
		}
	}

	// Stolen database: no column of the honeytokens table holds a decoy's
	// patient id, in any form a reader could match.
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT id, tag, clinic_id, created_by, data, fact_mac FROM honeytokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, clinic, by string
		var tag, data, mac []byte
		if err := rows.Scan(&id, &tag, &clinic, &by, &data, &mac); err != nil {
			t.Fatal(err)
		}
		n++
		row := bytes.Join([][]byte{[]byte(id), tag, []byte(clinic), []byte(by), data, mac}, []byte{0})
		for _, pid := range []string{h.PatientID, h2.PatientID} {
			if bytes.Contains(bytes.ToLower(row), []byte(pid)) {
				t.Errorf("honeytokens row %s holds a decoy's patient id in the clear", id)
			}
		}
	}
	if err := rows.Err(); err != nil || n != 2 {
		t.Fatalf("%d honeytoken rows, %v", n, err)
	}
	// And the patients table marks nothing: the decoy's row has the
	// columns every patient has, with the same kinds of values.
	var erased sql.NullInt64
	if err := raw.QueryRow(`SELECT erased_at FROM patients WHERE id = ?`, h.PatientID).Scan(&erased); err != nil || erased.Valid {
		t.Errorf("decoy's patient row: %v, erased %v", err, erased)
	}
}

func containsPatient(ps []confidant.Patient, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}
