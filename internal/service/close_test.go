package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// Staff accounts get the blind indexes of an identity code and an address
// at creation or later (OperatorSetClose), never the clear values; each
// change is an account.update event that names neither; patients'
// accounts are refused.
func TestOperatorSetClose(t *testing.T) {
	w := testfix.New(t, testfix.SQLite(t))
	ctx := context.Background()
	const home = "Kotikatu 1 A 2, 00100 Helsinki"
	stored := func(id string) confidant.User {
		t.Helper()
		var u confidant.User
		if err := w.Store.View(ctx, func(tx confidant.Tx) error {
			var err error
			u, err = tx.User(ctx, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return u
	}

	u, err := w.Service.OperatorCreateUser(ctx, service.StaffInput{
		Username: "kai", DisplayName: "Kai Koti", Role: confidant.RoleManager, ClinicIDs: []string{w.ClinicA.ID},
		Password: testfix.Password, Address: "  " + home + " ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Address != "" {
		t.Error("the created account carries its address back")
	}
	created := stored(u.ID)
	if len(created.AddressIndex) == 0 || len(created.IdentityIndex) != 0 || created.Address != "" {
		t.Fatalf("created: address index %x, identity index %x", created.AddressIndex, created.IdentityIndex)
	}
	for _, bad := range []service.StaffInput{
		{Username: "p1", DisplayName: "P One", Role: confidant.RolePatient, PatientID: w.PatientC.ID, Password: testfix.Password, Address: home},
		{Username: "s1", DisplayName: "S One", Role: confidant.RoleSecurity, Password: testfix.Password, Address: " -,. "},
		{Username: "s2", DisplayName: "S Two", Role: confidant.RoleSecurity, Password: testfix.Password, Address: "Katu 1\nHelsinki"},
	} {
		if _, err := w.Service.OperatorCreateUser(ctx, bad); !confidant.IsKind(err, confidant.KindInvalid) {
			t.Errorf("create %s: %v, want KindInvalid", bad.Username, err)
		}
	}

	before := len(logEvents(t, w.Store, service.ActAccountUpdate))
	// The identity code only: the address index stays.
	if _, err := w.Service.OperatorSetClose(ctx, u.ID, service.CloseInput{IdentityCode: " 010190-902s "}); err != nil {
		t.Fatal(err)
	}
	got := stored(u.ID)
	if len(got.IdentityIndex) == 0 || string(got.AddressIndex) != string(created.AddressIndex) {
		t.Errorf("identity set: identity index %x, address index %x (was %x)", got.IdentityIndex, got.AddressIndex, created.AddressIndex)
	}
	// Another address: another index, the identity stays.
	if _, err := w.Service.OperatorSetClose(ctx, u.ID, service.CloseInput{Address: "Muukatu 9, Espoo"}); err != nil {
		t.Fatal(err)
	}
	moved := stored(u.ID)
	if len(moved.AddressIndex) == 0 || string(moved.AddressIndex) == string(created.AddressIndex) || string(moved.IdentityIndex) != string(got.IdentityIndex) {
		t.Errorf("moved: %x, %x", moved.AddressIndex, moved.IdentityIndex)
	}
	if _, err := w.Service.OperatorSetClose(ctx, u.ID, service.CloseInput{Clear: true}); err != nil {
		t.Fatal(err)
	}
	if c := stored(u.ID); c.AddressIndex != nil || c.IdentityIndex != nil {
		t.Errorf("cleared: %x, %x", c.AddressIndex, c.IdentityIndex)
	}
	evs := logEvents(t, w.Store, service.ActAccountUpdate)
	if len(evs) != before+3 {
		t.Fatalf("%d account.update events, want %d", len(evs), before+3)
	}
	for _, ev := range evs[:3] {
		if ev.RecordID != u.ID || ev.PatientID != "" {
			t.Errorf("event: %+v", ev)
		}
		b, _ := json.Marshal(ev)
		for _, secret := range []string{"010190", "kotikatu", "muukatu", "espoo"} {
			if strings.Contains(strings.ToLower(string(b)), secret) {
				t.Errorf("the event holds %q: %s", secret, b)
			}
		}
	}

	for name, tc := range map[string]struct {
		id string
		in service.CloseInput
	}{
		"nothing":          {u.ID, service.CloseInput{}},
		"clear and set":    {u.ID, service.CloseInput{Clear: true, Address: home}},
		"bad code":         {u.ID, service.CloseInput{IdentityCode: "010190-902X"}},
		"no letter":        {u.ID, service.CloseInput{Address: "--"}},
		"patient account":  {w.PatientUser.ID, service.CloseInput{Address: home}},
		"patient, clear":   {w.PatientUser.ID, service.CloseInput{Clear: true}},
		"two lines":        {u.ID, service.CloseInput{Address: "Katu 1\r\nHelsinki"}},
		"too long address": {u.ID, service.CloseInput{Address: strings.Repeat("a", 301)}},
	} {
		if _, err := w.Service.OperatorSetClose(ctx, tc.id, tc.in); !confidant.IsKind(err, confidant.KindInvalid) {
			t.Errorf("%s: %v, want KindInvalid", name, err)
		}
	}
	if _, err := w.Service.OperatorSetClose(ctx, confidant.NewID(), service.CloseInput{Address: home}); !confidant.IsKind(err, confidant.KindNotFound) {
		t.Errorf("no such account: %v, want KindNotFound", err)
	}
	if n := len(logEvents(t, w.Store, service.ActAccountUpdate)); n != before+3 {
		t.Errorf("refused changes were recorded as updates: %d events, want %d", n, before+3)
	}
}
