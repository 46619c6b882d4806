package seal

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Keyring is what the store needs of internal/keys: patient keysets and
// blind indexes. Declared here so tests can supply fakes.
type Keyring interface {
	// NewPatientKey creates and wraps a keyset for a new patient.
	NewPatientKey(patientID string) (confidant.WrappedKey, tink.AEAD, error)
	// PatientAEAD unwraps a patient's keyset (from a cache when possible).
	PatientAEAD(wk confidant.WrappedKey) (tink.AEAD, error)
	// BlindIndex computes a truncated keyed index of value for (table, field).
	BlindIndex(table, field, value string, bits int) ([]byte, error)
}

// Store is a confidant.Store that seals records into a confidant.SealedStore.
type Store struct {
	backend  confidant.SealedStore
	keys     Keyring
	onForged func(table, id string)
	forged   sync.Map // table+"\x00"+id of rows reported forged
}

// New returns a Store that seals into backend with keys from keys.
func New(backend confidant.SealedStore, keys Keyring) *Store {
	return &Store{backend: backend, keys: keys}
}

// Backend returns the underlying sealed store.
func (s *Store) Backend() confidant.SealedStore { return s.backend }

// Update runs fn in a read-write transaction of the backend.
func (s *Store) Update(ctx context.Context, fn func(confidant.Tx) error) error {
	return s.backend.Update(ctx, func(stx confidant.SealedTx) error {
		return fn(s.newTx(stx))
	})
}

// View runs fn in a read-only transaction of the backend.
func (s *Store) View(ctx context.Context, fn func(confidant.Tx) error) error {
	return s.backend.View(ctx, func(stx confidant.SealedTx) error {
		return fn(s.newTx(stx))
	})
}

// Close closes the backend.
func (s *Store) Close() error { return s.backend.Close() }

func (s *Store) newTx(stx confidant.SealedTx) *tx {
	return &tx{SealedTx: stx, s: s, aeads: map[string]tink.AEAD{},
		users: map[string]confidant.User{}, care: map[string]confidant.CareRelationship{}}
}

// tx implements confidant.Tx. Methods without patient data are promoted
// from the embedded SealedTx; the others are overridden below.
type tx struct {
	confidant.SealedTx
	s     *Store
	aeads map[string]tink.AEAD // per-transaction cache of patient keysets
	// Accounts and care relationships read (and authenticated) in this
	// transaction, by id, so that a later write that re-authenticates
	// the row does not read after a write (internal/audit stages only
	// functions that read before they write).
	users map[string]confidant.User
	care  map[string]confidant.CareRelationship
	recs  recStates // records read and written in this transaction (recstate.go)
}

// errErased is returned for records of a crypto-shredded patient.
var errErased = confidant.Errorf(confidant.KindNotFound, "patient_erased", "This patient's records have been erased.")

// aead returns the keyset of patient id.
func (t *tx) aead(ctx context.Context, patientID string) (tink.AEAD, error) {
	if a, ok := t.aeads[patientID]; ok {
		return a, nil
	}
	wk, err := t.SealedTx.PatientKey(ctx, patientID)
	if confidant.IsKind(err, confidant.KindNotFound) {
		return nil, errErased
	}
	if err != nil {
		return nil, err
	}
	a, err := t.s.keys.PatientAEAD(wk)
	if err != nil {
		return nil, err
	}
	t.aeads[patientID] = a
	return a, nil
}

// indexes computes the blind indexes of a patient.
func (t *tx) indexes(p confidant.Patient) (identity, surname, surnameYear, address []byte, err error) {
	k := t.s.keys
	if address, err = addressIndex(k, p.Address); err != nil {
		return
	}
	if p.IdentityCode != "" {
		if identity, err = k.BlindIndex(indexTable, fieldIdentity, p.IdentityCode, IdentityIndexBits); err != nil {
			return
		}
	}
	fam := confidant.NormalizeName(p.FamilyName)
	if surname, err = k.BlindIndex(indexTable, fieldSurname, fam, SurnameIndexBits); err != nil {
		return
	}
	if !p.BirthDate.IsZero() {
		// The year of the birth date as stored (UTC), which is what
		// matches compares and a search by that year looks for.
		surnameYear, err = k.BlindIndex(indexTable, fieldSurnameYear, fam+"|"+p.BirthDate.UTC().Format("2006"), SurnameYearIndexBits)
	}
	return
}

func (t *tx) sealPatient(ctx context.Context, a tink.AEAD, p confidant.Patient) (confidant.SealedPatient, error) {
	d := patientData{Given: p.GivenName, Family: p.FamilyName, Code: p.IdentityCode, Phone: p.Phone, Email: p.Email, Address: p.Address}
	if !p.BirthDate.IsZero() {
		d.Birth = p.BirthDate.UTC().Format(time.RFC3339Nano)
	}
	data, err := sealJSON(a, d, confidant.BlobPatient, p.ID, p.ID, 0)
	if err != nil {
		return confidant.SealedPatient{}, err
	}
	id, sur, sy, addr, err := t.indexes(p)
	if err != nil {
		return confidant.SealedPatient{}, err
	}
	return confidant.SealedPatient{
		ID: p.ID, ClinicID: p.ClinicID, CreatedAt: p.CreatedAt, ErasedAt: p.ErasedAt,
		Data: data, IdentityIndex: id, SurnameIndex: sur, SurnameYearIndex: sy, AddressIndex: addr,
	}, nil
}

func (t *tx) openPatient(ctx context.Context, sp confidant.SealedPatient) (confidant.Patient, error) {
	p := confidant.Patient{ID: sp.ID, ClinicID: sp.ClinicID, CreatedAt: sp.CreatedAt, ErasedAt: sp.ErasedAt}
	if !sp.ErasedAt.IsZero() {
		return p, nil
	}
	a, err := t.aead(ctx, sp.ID)
	if err != nil {
		return p, err
	}
	var d patientData
	if err := openJSON(a, sp.Data, &d, confidant.BlobPatient, sp.ID, sp.ID, 0); err != nil {
		return p, err
	}
	if d.Birth != "" {
		b, err := time.Parse(time.RFC3339Nano, d.Birth)
		if err != nil {
			return p, fmt.Errorf("seal: patient %s: birth date: %w", sp.ID, errIntegrity)
		}
		p.BirthDate = b
	}
	p.GivenName, p.FamilyName, p.IdentityCode = d.Given, d.Family, d.Code
	p.Phone, p.Email, p.Address = d.Phone, d.Email, d.Address
	return p, nil
}

// CreatePatient creates the patient's keyset and the sealed row. Identity
// codes stay unique: candidates sharing the blind index are decrypted and
// compared.
func (t *tx) CreatePatient(ctx context.Context, p confidant.Patient) error {
	if p.IdentityCode != "" {
		dup, err := t.ListPatients(ctx, confidant.PatientFilter{IdentityCode: p.IdentityCode})
		if err != nil {
			return err
		}
		if len(dup) > 0 {
			return confidant.Errorf(confidant.KindConflict, "identity_code_taken", "A patient with this identity code is already registered.")
		}
	}
	wk, a, err := t.s.keys.NewPatientKey(p.ID)
	if err != nil {
		return err
	}
	sp, err := t.sealPatient(ctx, a, p)
	if err != nil {
		return err
	}
	if err := t.SealedTx.CreatePatient(ctx, sp); err != nil {
		return err
	}
	if err := t.SealedTx.PutPatientKey(ctx, wk); err != nil {
		return err
	}
	t.aeads[p.ID] = a
	return nil
}

// UpdatePatient reseals a patient's identifying fields.
func (t *tx) UpdatePatient(ctx context.Context, p confidant.Patient) error {
	if p.IdentityCode != "" {
		dup, err := t.ListPatients(ctx, confidant.PatientFilter{IdentityCode: p.IdentityCode})
		if err != nil {
			return err
		}
		for _, d := range dup {
			if d.ID != p.ID {
				return confidant.Errorf(confidant.KindConflict, "identity_code_taken", "A patient with this identity code is already registered.")
			}
		}
	}
	a, err := t.aead(ctx, p.ID)
	if err != nil {
		return err
	}
	sp, err := t.sealPatient(ctx, a, p)
	if err != nil {
		return err
	}
	return t.SealedTx.UpdatePatient(ctx, sp)
}

// Patient returns a decrypted patient, or the bare row of an erased one.
func (t *tx) Patient(ctx context.Context, id string) (confidant.Patient, error) {
	sp, err := t.SealedTx.Patient(ctx, id)
	if err != nil {
		return confidant.Patient{}, err
	}
	return t.openPatient(ctx, sp)
}

// sealedFilter translates a plaintext filter into blind indexes. exact
// reports whether results must be checked after decryption.
func (t *tx) sealedFilter(f confidant.PatientFilter) (confidant.SealedPatientFilter, bool, error) {
	sf := confidant.SealedPatientFilter{ClinicID: f.ClinicID}
	var err error
	switch {
	case f.IdentityCode != "":
		sf.IdentityIndex, err = t.s.keys.BlindIndex(indexTable, fieldIdentity, f.IdentityCode, IdentityIndexBits)
	case f.FamilyName != "" && f.BirthYear != 0:
		sf.SurnameYearIndex, err = t.s.keys.BlindIndex(indexTable, fieldSurnameYear,
			confidant.NormalizeName(f.FamilyName)+"|"+itoa4(f.BirthYear), SurnameYearIndexBits)
	case f.FamilyName != "":
		sf.SurnameIndex, err = t.s.keys.BlindIndex(indexTable, fieldSurname, confidant.NormalizeName(f.FamilyName), SurnameIndexBits)
	default:
		sf.Limit, sf.Offset = f.Limit, f.Offset
		return sf, false, nil
	}
	return sf, true, err
}

func itoa4(y int) string { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006") }

// matches applies the exact comparison that a truncated index cannot.
func matches(p confidant.Patient, f confidant.PatientFilter) bool {
	switch {
	case f.IdentityCode != "":
		return p.IdentityCode == f.IdentityCode
	case f.FamilyName != "":
		return confidant.NormalizeName(p.FamilyName) == confidant.NormalizeName(f.FamilyName) &&
			(f.BirthYear == 0 || p.BirthDate.Year() == f.BirthYear)
	}
	return true
}

func (t *tx) openPatients(ctx context.Context, rows []confidant.SealedPatient, f confidant.PatientFilter, exact bool) ([]confidant.Patient, error) {
	out := make([]confidant.Patient, 0, len(rows))
	for _, r := range rows {
		p, err := t.openPatient(ctx, r)
		if err != nil {
			return nil, err
		}
		if !exact || matches(p, f) {
			out = append(out, p)
		}
	}
	if exact { // limit and offset after the exact comparison
		out = page(out, f.Offset, f.Limit)
	}
	return out, nil
}

func page[T any](s []T, offset, limit int) []T {
	if offset >= len(s) {
		return nil
	}
	s = s[offset:]
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

// ListPatients returns non-erased patients in registration order.
func (t *tx) ListPatients(ctx context.Context, f confidant.PatientFilter) ([]confidant.Patient, error) {
	sf, exact, err := t.sealedFilter(f)
	if err != nil {
		return nil, err
	}
	rows, err := t.SealedTx.ListPatients(ctx, sf)
	if err != nil {
		return nil, err
	}
	return t.openPatients(ctx, rows, f, exact)
}

// finnish orders names as a Finnish reader expects (å, ä, ö after z). A
// collate.Collator keeps the state of a comparison in itself and is not
// safe for concurrent use, so each sort takes one from the pool.
var finnish = sync.Pool{New: func() any { return collate.New(language.Finnish, collate.IgnoreCase) }}

// ListPatientsForTherapist returns a therapist's patients in care, ordered
// by family name then given name.
func (t *tx) ListPatientsForTherapist(ctx context.Context, therapistID string, at time.Time, f confidant.PatientFilter) ([]confidant.Patient, error) {
	sf, exact, err := t.sealedFilter(f)
	if err != nil {
		return nil, err
	}
	sf.Limit, sf.Offset = 0, 0 // ordering happens after decryption
	rows, err := t.SealedTx.ListPatientsForTherapist(ctx, therapistID, at, sf)
	if err != nil {
		return nil, err
	}
	care, err := t.inCare(ctx, therapistID, at) // only authenticated care relationships count
	if err != nil {
		return nil, err
	}
	rows = slices.DeleteFunc(rows, func(p confidant.SealedPatient) bool { return !care[p.ID] })
	all := f
	all.Limit, all.Offset = 0, 0 // paging happens after ordering
	ps, err := t.openPatients(ctx, rows, all, exact)
	if err != nil {
		return nil, err
	}
	c := finnish.Get().(*collate.Collator)
	defer finnish.Put(c)
	slices.SortStableFunc(ps, func(a, b confidant.Patient) int {
		if n := c.CompareString(a.FamilyName, b.FamilyName); n != 0 {
			return n
		}
		return c.CompareString(a.GivenName, b.GivenName)
	})
	return page(ps, f.Offset, f.Limit), nil
}

// ErasePatient crypto-shreds a patient.
func (t *tx) ErasePatient(ctx context.Context, id string, at time.Time) error {
	delete(t.aeads, id)
	return t.SealedTx.ErasePatient(ctx, id, at)
}

// auditor is implemented by the transactions of a SealedStore that keeps the
// access log (internal/audit).
type auditor interface {
	Audit(ev confidant.AuditEvent) error
}

// Audit forwards the event to the access log of the underlying transaction,
// and fails closed when there is none.
func (t *tx) Audit(ev confidant.AuditEvent) error {
	if a, ok := t.SealedTx.(auditor); ok {
		return a.Audit(t.recs.pin(ev))
	}
	return confidant.ErrNoAccessLog
}
