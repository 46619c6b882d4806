// Package testfix builds a small, fully wired world for tests of the service
// and its transports: one organisation, two clinics, therapists, a manager, a
// security officer, patients with and without care, and a patient account.
package testfix

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// Password is the password of every fixture account.
const Password = "correct horse battery staple"

// FastHasher is a Hasher for tests: salted SHA-256, deliberately cheap. It
// must never be used outside tests.
type FastHasher struct{}

func (FastHasher) Hash(_ context.Context, pw string) (string, error) {
	h := sha256.Sum256([]byte("testfix|" + pw))
	return "test$" + hex.EncodeToString(h[:]), nil
}

func (f FastHasher) Verify(ctx context.Context, pw, enc string) (bool, bool, error) {
	want, _ := f.Hash(ctx, pw)
	return subtle.ConstantTimeCompare([]byte(want), []byte(enc)) == 1, false, nil
}

func (FastHasher) DummyVerify(context.Context, string) error { return nil }

// World is the fixture.
type World struct {
	Store   confidant.Store
	Service *service.Service
	// Mail holds the messages the service sent (invitations).
	Mail *Mailbox

	ClinicA, ClinicB confidant.Clinic

	Therapist      confidant.User // therapist in clinic A, in care of PatientA
	OtherTherapist confidant.User // therapist in clinic A, no care relationships
	TherapistB     confidant.User // therapist in clinic B, in care of PatientB
	Manager        confidant.User // manager of clinic A
	ManagerB       confidant.User // manager of clinic B
	Security       confidant.User
	DPO            confidant.User // the data protection officer
	PatientUser    confidant.User // portal account of PatientA

	PatientA confidant.Patient // clinic A, in care of Therapist
	PatientB confidant.Patient // clinic B, in care of TherapistB
	PatientC confidant.Patient // clinic A, in nobody's care

	// secrets are the TOTP secrets (base32) of the staff accounts, by
	// username (TOTPSecret).
	secrets map[string]string
}

// New builds the world on st (which must be empty) and returns it.
func New(t testing.TB, st confidant.Store) *World {
	t.Helper()
	return NewWithConfig(t, st, service.DefaultConfig())
}

// NewWithConfig is New with a service configuration of the test's (such
// as the public URL a browser test serves on, for passkeys).
func NewWithConfig(t testing.TB, st confidant.Store, cfg service.Config) *World {
	t.Helper()
	ctx := context.Background()
	box := &Mailbox{}
	opts := []service.Option{service.WithMailer(box)}
	if l := Log(st); l != nil {
		opts = append(opts, service.WithAuditor(l), service.WithAuditReader(l))
	}
	svc, err := service.New(st, FastHasher{}, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w := &World{Store: st, Service: svc, Mail: box}
	now := time.Now().UTC().Truncate(time.Microsecond)
	w.ClinicA = confidant.Clinic{ID: confidant.NewID(), Name: "Klinikka Helsinki", City: "Helsinki", CreatedAt: now}
	w.ClinicB = confidant.Clinic{ID: confidant.NewID(), Name: "Klinikka Tampere", City: "Tampere", CreatedAt: now}
	err = st.Update(ctx, func(tx confidant.Tx) error {
		if err := tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: "Test Provider", CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.CreateClinic(ctx, w.ClinicA); err != nil {
			return err
		}
		return tx.CreateClinic(ctx, w.ClinicB)
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(username string, role confidant.Role, clinics ...string) confidant.User {
		u, err := svc.OperatorCreateUser(ctx, service.StaffInput{
			Username: username, DisplayName: username, Role: role, ClinicIDs: clinics, Password: Password,
		})
		if err != nil {
			t.Fatalf("create %s: %v", username, err)
		}
		return u
	}
	w.Therapist = mk("therapist", confidant.RoleTherapist, w.ClinicA.ID)
	w.OtherTherapist = mk("other", confidant.RoleTherapist, w.ClinicA.ID)
	w.TherapistB = mk("therapistb", confidant.RoleTherapist, w.ClinicB.ID)
	w.Manager = mk("manager", confidant.RoleManager, w.ClinicA.ID)
	w.ManagerB = mk("managerb", confidant.RoleManager, w.ClinicB.ID)
	w.Security = mk("security", confidant.RoleSecurity)
	w.DPO = mk("dpo", confidant.RoleDPO)
	w.secrets = enrolStaff(t, st, w.Therapist, w.OtherTherapist, w.TherapistB, w.Manager, w.ManagerB, w.Security, w.DPO)

	w.PatientA = w.patient(t, w.Therapist, "Aino", "Äijälä", "010190-902S")
	w.PatientB = w.patient(t, w.TherapistB, "Bertta", "Korhonen", "020285-903Y")
	// PatientC: registered by the manager, so nobody is in care.
	p, err := svc.CreatePatient(w.As(w.Manager), service.PatientInput{
		ClinicID: w.ClinicA.ID, GivenName: "Cecilia", FamilyName: "Virtanen", IdentityCode: "030370-904K",
	})
	if err != nil {
		t.Fatalf("create patient C: %v", err)
	}
	w.PatientC = p
	// Built as the operator would (with a password), not by invitation,
	// so that tests can sign the patient in.
	w.PatientUser, err = svc.OperatorCreateUser(ctx, service.StaffInput{
		Username: "aino", DisplayName: "Patient", Role: confidant.RolePatient, PatientID: w.PatientA.ID, Password: Password,
	})
	if err != nil {
		t.Fatalf("patient account: %v", err)
	}
	return w
}

func (w *World) patient(t testing.TB, by confidant.User, given, family, code string) confidant.Patient {
	t.Helper()
	p, err := w.Service.CreatePatient(w.As(by), service.PatientInput{
		GivenName: given, FamilyName: family, IdentityCode: code, Email: "x@example.invalid",
	})
	if err != nil {
		t.Fatalf("create patient %s: %v", given, err)
	}
	return p
}

// As returns a context acting as u.
func (w *World) As(u confidant.User) context.Context {
	return confidant.WithActor(context.Background(), confidant.Actor{
		UserID: u.ID, Username: u.Username, Role: u.Role, PatientID: u.PatientID, ClinicIDs: u.ClinicIDs, SessionID: "test",
	})
}
