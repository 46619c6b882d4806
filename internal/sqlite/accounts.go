package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/confidanthealth/confidant"
)

// Organisation and clinics.

func (t *tx) Organisation(ctx context.Context) (confidant.Organisation, error) {
	var o confidant.Organisation
	err := t.get(ctx, "organisation", "organisation",
		`SELECT id, name, created_at FROM organisation`, nil,
		&o.ID, &o.Name, tm(&o.CreatedAt))
	return o, err
}

func (t *tx) CreateOrganisation(ctx context.Context, o confidant.Organisation) error {
	_, err := t.exec(ctx, "create organisation",
		`INSERT INTO organisation (id, name, created_at) VALUES (?, ?, ?)`,
		o.ID, o.Name, micros(o.CreatedAt))
	if isUnique(err) {
		return conflict("organisation_exists", "The organisation has already been set up.")
	}
	return err
}

func (t *tx) CreateClinic(ctx context.Context, c confidant.Clinic) error {
	_, err := t.exec(ctx, "create clinic",
		`INSERT INTO clinics (id, name, city, created_at) VALUES (?, ?, ?, ?)`,
		c.ID, c.Name, c.City, micros(c.CreatedAt))
	return err
}

func (t *tx) UpdateClinic(ctx context.Context, c confidant.Clinic) error {
	return t.execOne(ctx, "clinic", "update clinic",
		`UPDATE clinics SET name = ?, city = ? WHERE id = ?`, c.Name, c.City, c.ID)
}

const clinicColumns = `id, name, city, created_at`

func scanClinic(s interface{ Scan(...any) error }, c *confidant.Clinic) error {
	return s.Scan(&c.ID, &c.Name, &c.City, tm(&c.CreatedAt))
}

func (t *tx) Clinic(ctx context.Context, id string) (confidant.Clinic, error) {
	var c confidant.Clinic
	err := scanClinic(t.queryRow(ctx, `SELECT `+clinicColumns+` FROM clinics WHERE id = ?`, id), &c)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("clinic")
	}
	return c, dbErr("clinic", err)
}

func (t *tx) ListClinics(ctx context.Context) ([]confidant.Clinic, error) {
	var out []confidant.Clinic
	err := t.list(ctx, "list clinics", `SELECT `+clinicColumns+` FROM clinics ORDER BY name, id`, nil,
		func(r *sql.Rows) error {
			var c confidant.Clinic
			err := scanClinic(r, &c)
			out = append(out, c)
			return err
		})
	return out, err
}

// Accounts.

const userColumns = `u.id, u.username, u.display_name, u.role, u.patient_id, u.password_hash,
	u.disabled, u.failed_logins, u.locked_until, u.created_at,
	u.email, u.invited_by, u.awaiting_approval, u.approved_by, u.approved_at, u.disabled_by, u.fact_mac, u.identity_index, u.address_index`

func scanUser(s interface{ Scan(...any) error }, u *confidant.User) error {
	return s.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &u.PatientID, &u.PasswordHash,
		&u.Disabled, &u.FailedLogins, tm(&u.LockedUntil), tm(&u.CreatedAt),
		&u.Email, &u.InvitedBy, &u.AwaitingApproval, &u.ApprovedBy, tm(&u.ApprovedAt), &u.DisabledBy, &u.FactMAC, &u.IdentityIndex, &u.AddressIndex)
}

func (t *tx) CreateUser(ctx context.Context, u confidant.User) error {
	_, err := t.exec(ctx, "create user",
		`INSERT INTO users (id, username, display_name, role, patient_id, password_hash,
			disabled, failed_logins, locked_until, created_at,
			email, invited_by, awaiting_approval, approved_by, approved_at, disabled_by, fact_mac, identity_index, address_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.DisplayName, string(u.Role), u.PatientID, u.PasswordHash,
		u.Disabled, u.FailedLogins, micros(u.LockedUntil), micros(u.CreatedAt),
		u.Email, u.InvitedBy, u.AwaitingApproval, u.ApprovedBy, micros(u.ApprovedAt), u.DisabledBy, u.FactMAC, nullBlob(u.IdentityIndex), nullBlob(u.AddressIndex))
	if isUnique(err) {
		if u.PatientID != "" && strings.Contains(err.Error(), "users.patient_id") {
			return errPortalAccountExists()
		}
		return conflict("username_taken", "The username is already taken.")
	}
	if err != nil {
		return err
	}
	return t.setUserClinics(ctx, u.ID, u.ClinicIDs)
}

func (t *tx) setUserClinics(ctx context.Context, userID string, clinicIDs []string) error {
	if _, err := t.exec(ctx, "set user clinics", `DELETE FROM user_clinics WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, c := range slices.Compact(slices.Sorted(slices.Values(clinicIDs))) {
		if _, err := t.exec(ctx, "set user clinics",
			`INSERT INTO user_clinics (user_id, clinic_id) VALUES (?, ?)`, userID, c); err != nil {
			return err
		}
	}
	return nil
}

// UpdateUser changes display name, role, clinics, the disabled flag and
// who set it. The
// username, password hash and sign-in state are not touched, so a stale copy
// of the user cannot undo a password change or a lockout.
func (t *tx) UpdateUser(ctx context.Context, u confidant.User) error {
	err := t.execOne(ctx, "user", "update user",
		`UPDATE users SET display_name = ?, role = ?, disabled = ?, disabled_by = ?, fact_mac = ? WHERE id = ?`,
		u.DisplayName, string(u.Role), u.Disabled, u.DisabledBy, u.FactMAC, u.ID)
	if err != nil {
		return err
	}
	return t.setUserClinics(ctx, u.ID, u.ClinicIDs)
}

func (t *tx) User(ctx context.Context, id string) (confidant.User, error) {
	return t.oneUser(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = ?`, id)
}

func (t *tx) UserByUsername(ctx context.Context, username string) (confidant.User, error) {
	return t.oneUser(ctx, `SELECT `+userColumns+` FROM users u WHERE u.username = ?`, username)
}

func (t *tx) oneUser(ctx context.Context, query string, arg any) (confidant.User, error) {
	var u confidant.User
	err := scanUser(t.queryRow(ctx, query, arg), &u)
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user")
	}
	if err != nil {
		return u, dbErr("user", err)
	}
	users := []confidant.User{u}
	if err := t.loadClinics(ctx, users); err != nil {
		return u, err
	}
	return users[0], nil
}

func (t *tx) ListUsers(ctx context.Context, f confidant.UserFilter) ([]confidant.User, error) {
	var w filter
	if f.Role != "" {
		w.add(`u.role = ?`, string(f.Role))
	}
	if f.ClinicID != "" {
		w.add(`u.id IN (SELECT user_id FROM user_clinics WHERE clinic_id = ?)`, f.ClinicID)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		// One statement whatever the number of ids: a JSON array.
		ids, err := json.Marshal(f.IDs)
		if err != nil {
			return nil, dbErr("list users", err)
		}
		w.add(`u.id IN (SELECT value FROM json_each(?))`, string(ids))
	}
	var out []confidant.User
	err := t.list(ctx, "list users",
		`SELECT `+userColumns+` FROM users u`+w.where()+` ORDER BY u.username`+limitOffset,
		append(w.args, limit(f.Limit, 0)...),
		func(r *sql.Rows) error {
			var u confidant.User
			err := scanUser(r, &u)
			out = append(out, u)
			return err
		})
	if err != nil {
		return nil, err
	}
	return out, t.loadClinics(ctx, out)
}

// loadClinics fills in ClinicIDs (sorted) of users with one query.
func (t *tx) loadClinics(ctx context.Context, users []confidant.User) error {
	if len(users) == 0 {
		return nil
	}
	idx := make(map[string]int, len(users))
	ids := make([]string, len(users))
	for i, u := range users {
		idx[u.ID] = i
		ids[i] = u.ID
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return dbErr("load user clinics", err)
	}
	return t.list(ctx, "load user clinics",
		`SELECT user_id, clinic_id FROM user_clinics
		WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY user_id, clinic_id`,
		[]any{string(list)},
		func(r *sql.Rows) error {
			var uid, cid string
			if err := r.Scan(&uid, &cid); err != nil {
				return err
			}
			u := &users[idx[uid]]
			u.ClinicIDs = append(u.ClinicIDs, cid)
			return nil
		})
}

func (t *tx) SetPassword(ctx context.Context, userID, hash string) error {
	return t.execOne(ctx, "user", "set password",
		`UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
}

func (t *tx) RecordLogin(ctx context.Context, userID string, ok bool, lockedUntil time.Time) error {
	if ok {
		return t.execOne(ctx, "user", "record login",
			`UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?`, userID)
	}
	return t.execOne(ctx, "user", "record login",
		`UPDATE users SET failed_logins = failed_logins + 1, locked_until = ? WHERE id = ?`,
		micros(lockedUntil), userID)
}

// Sessions.

func (t *tx) CreateSession(ctx context.Context, s confidant.Session) error {
	_, err := t.exec(ctx, "create session",
		`INSERT INTO sessions (id, token_hash, user_id, kind, created_at, last_seen, expires_at, client, agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, nonNil(s.TokenHash), s.UserID, s.Kind, micros(s.CreatedAt), micros(s.LastSeen), micros(s.ExpiresAt), s.Client, s.Agent)
	return err
}

func (t *tx) SessionByTokenHash(ctx context.Context, hash []byte) (confidant.Session, error) {
	var s confidant.Session
	err := t.get(ctx, "session", "session",
		`SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, []any{nonNil(hash)},
		&s.ID, &s.TokenHash, &s.UserID, &s.Kind, tm(&s.CreatedAt), tm(&s.LastSeen), tm(&s.ExpiresAt), &s.Client, &s.Agent)
	return s, err
}

const sessionColumns = `id, token_hash, user_id, kind, created_at, last_seen, expires_at, client, agent`

func (t *tx) ListUserSessions(ctx context.Context, userID string, kinds ...string) ([]confidant.Session, error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions WHERE user_id = ?`
	args := []any{userID}
	if len(kinds) > 0 {
		k, err := json.Marshal(kinds)
		if err != nil {
			return nil, dbErr("list sessions", err)
		}
		q += ` AND kind IN (SELECT value FROM json_each(?))`
		args = append(args, string(k))
	}
	var out []confidant.Session
	err := t.list(ctx, "list sessions", q+` ORDER BY created_at DESC, id LIMIT 1000`, args, func(r *sql.Rows) error {
		var s confidant.Session
		err := r.Scan(&s.ID, &s.TokenHash, &s.UserID, &s.Kind, tm(&s.CreatedAt), tm(&s.LastSeen), tm(&s.ExpiresAt), &s.Client, &s.Agent)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *tx) KnownClient(ctx context.Context, userID string, key []byte) (known, anyClient bool, err error) {
	var k, a int
	err = t.get(ctx, "client", "known client",
		`SELECT EXISTS (SELECT 1 FROM known_clients WHERE user_id = ? AND client_key = ?),
		        EXISTS (SELECT 1 FROM known_clients WHERE user_id = ?)`, []any{userID, nonNil(key), userID}, &k, &a)
	return k == 1, a == 1, err
}

func (t *tx) PutClient(ctx context.Context, userID string, key []byte, at time.Time) error {
	_, err := t.exec(ctx, "put client",
		`INSERT INTO known_clients (user_id, client_key, first_seen, last_seen) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_key) DO UPDATE SET last_seen = excluded.last_seen`,
		userID, nonNil(key), micros(at), micros(at))
	return err
}

func (t *tx) CreateNotice(ctx context.Context, n confidant.Notice) error {
	_, err := t.exec(ctx, "create notice",
		`INSERT INTO notices (id, user_id, kind, at, client, agent, count, read_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.UserID, n.Kind, micros(n.At), n.Client, n.Agent, n.Count, micros(n.ReadAt))
	return err
}

func (t *tx) ListNotices(ctx context.Context, userID string, limit int) ([]confidant.Notice, error) {
	var out []confidant.Notice
	err := t.list(ctx, "list notices",
		`SELECT id, user_id, kind, at, client, agent, count, read_at FROM notices WHERE user_id = ?
		ORDER BY at DESC, id DESC LIMIT ?`, []any{userID, limit},
		func(r *sql.Rows) error {
			var n confidant.Notice
			err := r.Scan(&n.ID, &n.UserID, &n.Kind, tm(&n.At), &n.Client, &n.Agent, &n.Count, tm(&n.ReadAt))
			out = append(out, n)
			return err
		})
	return out, err
}

func (t *tx) LatestNotice(ctx context.Context, userID, kind string) (time.Time, error) {
	var at time.Time
	err := t.get(ctx, "notice", "latest notice",
		`SELECT MAX(at) FROM notices WHERE user_id = ? AND kind = ?`, []any{userID, kind}, tm(&at))
	return at, err
}

func (t *tx) ReadNotices(ctx context.Context, userID string, at time.Time) error {
	_, err := t.exec(ctx, "read notices",
		`UPDATE notices SET read_at = ? WHERE user_id = ? AND read_at IS NULL`, micros(at), userID)
	return err
}

func (t *tx) TouchSession(ctx context.Context, id string, at time.Time) error {
	return t.execOne(ctx, "session", "touch session",
		`UPDATE sessions SET last_seen = ? WHERE id = ?`, micros(at), id)
}

func (t *tx) DeleteSession(ctx context.Context, id string) error {
	_, err := t.exec(ctx, "delete session", `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

// DeleteExpiredSessions deletes the sessions whose ExpiresAt is not after
// now and returns how many there were.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := t.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= ?`, now.UnixMicro())
	return int(n), err
}

func (t *tx) LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error {
	_, err := t.exec(ctx, "link identity",
		`INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
		issuer, subject, userID, micros(at))
	return err
}

func (t *tx) IdentityUser(ctx context.Context, issuer, subject string) (string, error) {
	var id string
	err := t.get(ctx, "identity", "identity user",
		`SELECT user_id FROM external_identities WHERE issuer = ? AND subject = ?`, []any{issuer, subject}, &id)
	return id, err
}

func (t *tx) DeleteUserIdentities(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete identities", `DELETE FROM external_identities WHERE user_id = ?`, userID)
	return err
}

// SetFactMAC replaces the fact MAC of a row of table (confidant.Fact*).
func (t *tx) SetFactMAC(ctx context.Context, table, id string, mac []byte) error {
	var q string
	switch table {
	case confidant.FactUsers:
		q = `UPDATE users SET fact_mac = ? WHERE id = ?`
	case confidant.FactCare:
		q = `UPDATE care SET fact_mac = ? WHERE id = ?`
	case confidant.FactBreakGlass:
		q = `UPDATE break_glass SET fact_mac = ? WHERE id = ?`
	default:
		return confidant.Errorf(confidant.KindInvalid, "invalid_fact_table", "Unknown table of authorization facts.")
	}
	return t.execOne(ctx, table, "set fact MAC", q, mac, id)
}

// SetUserClose replaces an account's identity and address indexes.
func (t *tx) SetUserClose(ctx context.Context, userID string, identity, address []byte) error {
	return t.execOne(ctx, "user", "set close indexes",
		`UPDATE users SET identity_index = ?, address_index = ? WHERE id = ?`, nullBlob(identity), nullBlob(address), userID)
}

// nullBlob stores an empty index as NULL.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
