package seal

import (
	"context"
	"crypto/hmac"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// Authorization facts a database writer cannot forge (docs/SECURITY.md,
// "Authorization facts").
//
// The rows that decide who may read what (accounts: role, clinic
// memberships, patient, approval, disabled; care relationships;
// break-the-glass grants) carry a
// MAC computed here under a key derived from the blind-index key, which
// the database holds only wrapped by the KEK. The MAC covers a domain
// label, the table, the row's id and every authorization-relevant column,
// each length-prefixed. A row whose MAC is missing or wrong is treated as
// absent (an account that does not exist, a care relationship that does
// not exist) and reported once per process (a warning with the table and
// the row id, and the hook set by OnForgedFact).

// FactKeyring is what the fact MACs need of internal/keys.
type FactKeyring interface {
	FactMAC(msg []byte) ([]byte, error)
}

const factDomain = "confidant/fact-mac/v1"

// FactProcessNotes names process notes in reports of forged facts: their
// authorship is bound inside the sealed note, not by a MAC.
const FactProcessNotes = "process_notes"

// factMsg encodes the domain, table, id and fields, each as a 4-byte
// big-endian length and its bytes.
func factMsg(table, id string, fields ...string) []byte {
	n := len(factDomain) + len(table) + len(id) + 12
	for _, f := range fields {
		n += len(f) + 4
	}
	b := make([]byte, 0, n)
	for _, s := range append([]string{factDomain, table, id}, fields...) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// factTime encodes a time at the stores' precision (microseconds); zero
// is "".
func factTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func factBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// userFacts are the authorization facts of an account.
func userFacts(u confidant.User) []byte {
	clinics := slices.Compact(slices.Sorted(slices.Values(u.ClinicIDs)))
	fields := []string{u.Username, string(u.Role), u.PatientID, factBool(u.Disabled),
		factBool(u.AwaitingApproval), u.ApprovedBy, factTime(u.ApprovedAt), strconv.Itoa(len(clinics))}
	return factMsg(confidant.FactUsers, u.ID, append(fields, clinics...)...)
}

// careFacts are the facts of a care relationship.
func careFacts(c confidant.CareRelationship) []byte {
	return factMsg(confidant.FactCare, c.ID, c.PatientID, c.TherapistID, c.ClinicID, factTime(c.From), factTime(c.To))
}

// grantFacts are the facts of a break-the-glass grant (its review is not
// one: a grant is in force until it expires, reviewed or not).
func grantFacts(g confidant.SealedBreakGlass) []byte {
	return factMsg(confidant.FactBreakGlass, g.ID, g.TherapistID, g.PatientID, g.ClinicID, g.Category,
		factTime(g.CreatedAt), factTime(g.ExpiresAt))
}

// ActiveBreakGlass returns the store's active grant only if it is
// authenticated: a forged grant is none.
func (t *tx) ActiveBreakGlass(ctx context.Context, therapistID, patientID string, at time.Time) (confidant.ActiveGrant, error) {
	g, err := t.SealedTx.ActiveBreakGlass(ctx, therapistID, patientID, at)
	if err != nil || g.ID == "" {
		return g, err
	}
	r, err := t.SealedTx.BreakGlass(ctx, g.ID)
	if err != nil {
		return confidant.ActiveGrant{}, err
	}
	ok, err := t.s.factOK(confidant.FactBreakGlass, r.ID, grantFacts(r), r.FactMAC)
	if err != nil || !ok || r.TherapistID != therapistID || r.PatientID != patientID {
		return confidant.ActiveGrant{}, err
	}
	return confidant.ActiveGrant{ID: r.ID, ExpiresAt: r.ExpiresAt}, nil
}

func (s *Store) factMAC(msg []byte) ([]byte, error) {
	k, ok := s.keys.(FactKeyring)
	if !ok {
		return nil, confidant.Errorf(confidant.KindInternal, "fact_key_missing", "No key for authorization facts.")
	}
	return k.FactMAC(msg)
}

// factOK reports whether mac authenticates msg; a missing or wrong MAC is
// reported (table and id only) and false.
func (s *Store) factOK(table, id string, msg, mac []byte) (bool, error) {
	want, err := s.factMAC(msg)
	if err != nil {
		return false, err
	}
	if len(mac) > 0 && hmac.Equal(want, mac) {
		return true, nil
	}
	s.reportForged(table, id)
	return false, nil
}

// OnForgedFact sets fn to be called (once per row and process) when a row
// of authorization facts fails its MAC. fn runs inside a transaction and
// must not wait for another one (cmd/confidant records an access-log event
// from a goroutine).
func (s *Store) OnForgedFact(fn func(table, id string)) { s.onForged = fn }

func (s *Store) reportForged(table, id string) {
	if _, seen := s.forged.LoadOrStore(table+"\x00"+id, true); seen {
		return
	}
	slog.Warn("authorization fact failed its integrity check; treated as absent", "table", table, "id", id)
	if s.onForged != nil {
		s.onForged(table, id)
	}
}

func (t *tx) userOK(u confidant.User) (bool, error) {
	return t.s.factOK(confidant.FactUsers, u.ID, userFacts(u), u.FactMAC)
}

func (t *tx) careOK(c confidant.CareRelationship) (bool, error) {
	return t.s.factOK(confidant.FactCare, c.ID, careFacts(c), c.FactMAC)
}

var errNoUser = confidant.Errorf(confidant.KindNotFound, "not_found", "The user was not found.")
var errNoCare = confidant.Errorf(confidant.KindNotFound, "not_found", "The care relationship was not found.")

func (t *tx) checkUser(u confidant.User, err error) (confidant.User, error) {
	if err != nil {
		return u, err
	}
	ok, err := t.userOK(u)
	if err != nil {
		return confidant.User{}, err
	}
	if !ok {
		return confidant.User{}, errNoUser
	}
	t.users[u.ID] = u
	return u, nil
}

// user returns the account as read in this transaction, else reads it.
func (t *tx) user(ctx context.Context, id string) (confidant.User, error) {
	if u, ok := t.users[id]; ok {
		return u, nil
	}
	return t.User(ctx, id)
}

func (t *tx) User(ctx context.Context, id string) (confidant.User, error) {
	return t.checkUser(t.SealedTx.User(ctx, id))
}

func (t *tx) UserByUsername(ctx context.Context, username string) (confidant.User, error) {
	return t.checkUser(t.SealedTx.UserByUsername(ctx, username))
}

func (t *tx) ListUsers(ctx context.Context, f confidant.UserFilter) ([]confidant.User, error) {
	us, err := t.SealedTx.ListUsers(ctx, f)
	if err != nil {
		return nil, err
	}
	out := us[:0]
	for _, u := range us {
		ok, err := t.userOK(u)
		if err != nil {
			return nil, err
		}
		if ok {
			t.users[u.ID] = u
			out = append(out, u)
		}
	}
	return out, nil
}

func (t *tx) CreateUser(ctx context.Context, u confidant.User) error {
	if u.IdentityCode != "" {
		// Only its blind index is stored, the one a patient with this
		// code has (the detector compares the two).
		code, _, err := confidant.ParseIdentityCode(u.IdentityCode)
		if err != nil {
			return err
		}
		if u.IdentityIndex, err = t.s.keys.BlindIndex(indexTable, fieldIdentity, code, IdentityIndexBits); err != nil {
			return err
		}
		u.IdentityCode = ""
	}
	if u.Address != "" {
		var err error
		if u.AddressIndex, err = addressIndex(t.s.keys, u.Address); err != nil {
			return err
		}
		u.Address = ""
	}
	mac, err := t.s.factMAC(userFacts(u))
	if err != nil {
		return err
	}
	u.FactMAC = mac
	if err := t.SealedTx.CreateUser(ctx, u); err != nil {
		return err
	}
	t.users[u.ID] = u
	return nil
}

// UpdateUser changes what the store's UpdateUser changes (display name,
// role, clinics, disabled) on the authenticated stored account, and
// authenticates the result.
func (t *tx) UpdateUser(ctx context.Context, u confidant.User) error {
	cur, err := t.user(ctx, u.ID)
	if err != nil {
		return err
	}
	cur.DisplayName, cur.Role, cur.ClinicIDs, cur.Disabled, cur.DisabledBy = u.DisplayName, u.Role, slices.Clone(u.ClinicIDs), u.Disabled, u.DisabledBy
	if cur.FactMAC, err = t.s.factMAC(userFacts(cur)); err != nil {
		return err
	}
	if err := t.SealedTx.UpdateUser(ctx, cur); err != nil {
		return err
	}
	t.users[cur.ID] = cur
	return nil
}

func (t *tx) ApproveUser(ctx context.Context, userID, by string, at time.Time) error {
	cur, err := t.user(ctx, userID)
	if err != nil {
		return err
	}
	if !cur.AwaitingApproval {
		return t.SealedTx.ApproveUser(ctx, userID, by, at) // the store's conflict
	}
	cur.AwaitingApproval, cur.ApprovedBy, cur.ApprovedAt = false, by, at
	mac, err := t.s.factMAC(userFacts(cur))
	if err != nil {
		return err
	}
	if err := t.SealedTx.ApproveUser(ctx, userID, by, at); err != nil {
		return err
	}
	cur.FactMAC = mac
	t.users[userID] = cur
	return t.SealedTx.SetFactMAC(ctx, confidant.FactUsers, userID, mac)
}

func (t *tx) CreateCare(ctx context.Context, c confidant.CareRelationship) error {
	mac, err := t.s.factMAC(careFacts(c))
	if err != nil {
		return err
	}
	c.FactMAC = mac
	if err := t.SealedTx.CreateCare(ctx, c); err != nil {
		return err
	}
	t.care[c.ID] = c
	return nil
}

func (t *tx) EndCare(ctx context.Context, id string, to time.Time, by string) error {
	c, ok := t.care[id]
	if !ok {
		var err error
		if c, err = t.Care(ctx, id); err != nil {
			return err
		}
	}
	if !c.To.IsZero() || to.IsZero() {
		return t.SealedTx.EndCare(ctx, id, to, by) // the store's conflict or refusal
	}
	c.To, c.EndedBy = to, by
	mac, err := t.s.factMAC(careFacts(c))
	if err != nil {
		return err
	}
	if err := t.SealedTx.EndCare(ctx, id, to, by); err != nil {
		return err
	}
	c.FactMAC = mac
	t.care[id] = c
	return t.SealedTx.SetFactMAC(ctx, confidant.FactCare, id, mac)
}

func (t *tx) Care(ctx context.Context, id string) (confidant.CareRelationship, error) {
	c, err := t.SealedTx.Care(ctx, id)
	if err != nil {
		return c, err
	}
	ok, err := t.careOK(c)
	if err != nil {
		return confidant.CareRelationship{}, err
	}
	if !ok {
		return confidant.CareRelationship{}, errNoCare
	}
	t.care[c.ID] = c
	return c, nil
}

func (t *tx) ListCare(ctx context.Context, f confidant.CareFilter) ([]confidant.CareRelationship, error) {
	cs, err := t.SealedTx.ListCare(ctx, f)
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		ok, err := t.careOK(c)
		if err != nil {
			return nil, err
		}
		if ok {
			t.care[c.ID] = c
			out = append(out, c)
		}
	}
	return out, nil
}

// HasActiveCare looks for an authenticated relationship active at `at`
// (one query, as the store's own HasActiveCare).
func (t *tx) HasActiveCare(ctx context.Context, therapistID, patientID string, at time.Time) (bool, error) {
	if therapistID == "" || patientID == "" {
		return false, nil
	}
	cs, err := t.ListCare(ctx, confidant.CareFilter{TherapistID: therapistID, PatientID: patientID, ActiveAt: at})
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.ActiveAt(at) {
			return true, nil
		}
	}
	return false, nil
}

// inCare returns the patients with an authenticated relationship to
// therapistID active at `at`.
func (t *tx) inCare(ctx context.Context, therapistID string, at time.Time) (map[string]bool, error) {
	cs, err := t.ListCare(ctx, confidant.CareFilter{TherapistID: therapistID, ActiveAt: at})
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.ActiveAt(at) {
			m[c.PatientID] = true
		}
	}
	return m, nil
}

// BackfillFacts authenticates the rows that have no MAC yet: once, when
// the migration that added the MAC columns has just been applied. It
// trusts the database as it is at that moment (docs/SECURITY.md).
func BackfillFacts(ctx context.Context, backend confidant.SealedStore, k FactKeyring) (users, care int, err error) {
	err = backend.Update(ctx, func(tx confidant.SealedTx) error {
		users, care = 0, 0
		gs, err := tx.ListBreakGlass(ctx, confidant.BreakGlassFilter{})
		if err != nil {
			return err
		}
		for _, g := range gs {
			if len(g.FactMAC) > 0 {
				continue
			}
			mac, err := k.FactMAC(grantFacts(g))
			if err != nil {
				return err
			}
			if err := tx.SetFactMAC(ctx, confidant.FactBreakGlass, g.ID, mac); err != nil {
				return err
			}
		}
		us, err := tx.ListUsers(ctx, confidant.UserFilter{})
		if err != nil {
			return err
		}
		for _, u := range us {
			if len(u.FactMAC) > 0 {
				continue
			}
			mac, err := k.FactMAC(userFacts(u))
			if err != nil {
				return err
			}
			if err := tx.SetFactMAC(ctx, confidant.FactUsers, u.ID, mac); err != nil {
				return err
			}
			users++
		}
		cs, err := tx.ListCare(ctx, confidant.CareFilter{})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if len(c.FactMAC) > 0 {
				continue
			}
			mac, err := k.FactMAC(careFacts(c))
			if err != nil {
				return err
			}
			if err := tx.SetFactMAC(ctx, confidant.FactCare, c.ID, mac); err != nil {
				return err
			}
			care++
		}
		return nil
	})
	return users, care, err
}
