package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/confidanthealth/confidant"
)

// userCols selects a user with its clinic memberships in order.
const userCols = `u.id, u.username, u.display_name, u.role, u.patient_id, u.password_hash,
	u.disabled, u.failed_logins, u.locked_until, u.created_at,
	u.email, u.invited_by, u.awaiting_approval, u.approved_by, u.approved_at, u.disabled_by, u.fact_mac, u.identity_index, u.address_index,
	ARRAY(SELECT uc.clinic_id FROM user_clinics uc WHERE uc.user_id = u.id ORDER BY uc.position)`

func scanUser(row pgx.CollectableRow) (confidant.User, error) {
	var u confidant.User
	var role string
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &role, txt(&u.PatientID), &u.PasswordHash,
		&u.Disabled, &u.FailedLogins, tm(&u.LockedUntil), tm(&u.CreatedAt),
		&u.Email, &u.InvitedBy, &u.AwaitingApproval, &u.ApprovedBy, tm(&u.ApprovedAt), &u.DisabledBy, &u.FactMAC, &u.IdentityIndex, &u.AddressIndex, &u.ClinicIDs)
	u.Role = confidant.Role(role)
	if len(u.ClinicIDs) == 0 {
		u.ClinicIDs = nil
	}
	return u, err
}

// CreateUser stores u with its clinic memberships (duplicates in ClinicIDs
// are stored once). It returns KindConflict with code "username_taken" if
// the username is in use.
func (t *tx) CreateUser(ctx context.Context, u confidant.User) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO users (id, username, display_name, role, patient_id, password_hash,
		                   disabled, failed_logins, locked_until, created_at,
		                   email, invited_by, awaiting_approval, approved_by, approved_at, disabled_by, fact_mac, identity_index, address_index)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		u.ID, u.Username, u.DisplayName, string(u.Role), nullText(u.PatientID), u.PasswordHash,
		u.Disabled, u.FailedLogins, ts(u.LockedUntil), ts(u.CreatedAt),
		u.Email, u.InvitedBy, u.AwaitingApproval, u.ApprovedBy, ts(u.ApprovedAt), u.DisabledBy, u.FactMAC, nullBytes(u.IdentityIndex), nullBytes(u.AddressIndex))
	if err != nil {
		return mapErr(err, "create user", "User")
	}
	return t.addClinics(ctx, u.ID, u.ClinicIDs)
}

// addClinics adds clinic memberships to a user that has none.
func (t *tx) addClinics(ctx context.Context, userID string, clinicIDs []string) error {
	var ids []string
	seen := map[string]bool{}
	for _, c := range clinicIDs {
		if !seen[c] {
			seen[c] = true
			ids = append(ids, c)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO user_clinics (user_id, clinic_id, position)
		SELECT $1, c.id, c.pos FROM unnest($2::text[]) WITH ORDINALITY AS c (id, pos)`,
		userID, ids)
	return mapErr(err, "add user clinics", "")
}

// UpdateUser changes display name, role, clinic memberships, the disabled
// flag and who set it. Username, password and login state have their own methods.
func (t *tx) UpdateUser(ctx context.Context, u confidant.User) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE users SET display_name = $2, role = $3, disabled = $4, disabled_by = $5, fact_mac = $6 WHERE id = $1`,
		u.ID, u.DisplayName, string(u.Role), u.Disabled, u.DisabledBy, u.FactMAC)
	if err != nil {
		return mapErr(err, "update user", "User")
	}
	if tag.RowsAffected() == 0 {
		return notFound("User")
	}
	// The UPDATE above locks the user row, so concurrent updates of the same
	// user replace the memberships one after the other.
	if _, err := t.tx.Exec(t.c(ctx), `DELETE FROM user_clinics WHERE user_id = $1`, u.ID); err != nil {
		return mapErr(err, "update user clinics", "")
	}
	return t.addClinics(ctx, u.ID, u.ClinicIDs)
}

func (t *tx) User(ctx context.Context, id string) (confidant.User, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, mapErr(err, "get user", "User")
}

// UserByUsername looks a user up by exact username (usernames are stored in
// lower case by the service layer).
func (t *tx) UserByUsername(ctx context.Context, username string) (confidant.User, error) {
	rows, _ := t.tx.Query(t.c(ctx), `SELECT `+userCols+` FROM users u WHERE u.username = $1`, username)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, mapErr(err, "get user by username", "User")
}

// ListUsers returns users ordered by username.
func (t *tx) ListUsers(ctx context.Context, f confidant.UserFilter) ([]confidant.User, error) {
	if f.Limit < 0 {
		return nil, invalid("invalid_limit", "The limit must not be negative.")
	}
	var q query
	if f.ClinicID != "" {
		q.where(`EXISTS (SELECT 1 FROM user_clinics uc WHERE uc.user_id = u.id AND uc.clinic_id = ` + q.arg(f.ClinicID) + `)`)
	}
	if f.Role != "" {
		q.where(`u.role = ` + q.arg(string(f.Role)))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		q.where(`u.id = ANY(` + q.arg(f.IDs) + `)`)
	}
	sql := `SELECT ` + userCols + ` FROM users u` + q.whereSQL() + ` ORDER BY u.username, u.id` + q.limitSQL(f.Limit, 0)
	rows, _ := t.tx.Query(t.c(ctx), sql, q.args...)
	us, err := collect(rows, scanUser)
	return us, mapErr(err, "list users", "")
}

func (t *tx) SetPassword(ctx context.Context, userID, hash string) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
	if err != nil {
		return mapErr(err, "set password", "User")
	}
	if tag.RowsAffected() == 0 {
		return notFound("User")
	}
	return nil
}

// RecordLogin stores the outcome of a sign-in attempt. Success resets the
// failure count and clears any lock. Failure increments the count and sets
// the lock to lockedUntil (the zero time: not locked), but never shortens a
// lock already in place.
func (t *tx) RecordLogin(ctx context.Context, userID string, ok bool, lockedUntil time.Time) error {
	var sql string
	var args []any
	if ok {
		sql, args = `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, []any{userID}
	} else {
		sql = `UPDATE users SET failed_logins = failed_logins + 1,
		       locked_until = GREATEST(locked_until, $2) WHERE id = $1`
		args = []any{userID, ts(lockedUntil)}
	}
	tag, err := t.tx.Exec(t.c(ctx), sql, args...)
	if err != nil {
		return mapErr(err, "record login", "User")
	}
	if tag.RowsAffected() == 0 {
		return notFound("User")
	}
	return nil
}

// Sessions.

func (t *tx) CreateSession(ctx context.Context, s confidant.Session) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO sessions (id, token_hash, user_id, kind, created_at, last_seen, expires_at, client, agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		s.ID, nonNil(s.TokenHash), s.UserID, s.Kind, ts(s.CreatedAt), ts(s.LastSeen), ts(s.ExpiresAt), s.Client, s.Agent)
	return mapErr(err, "create session", "Session")
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SessionByTokenHash returns the session with the given token hash, expired
// or not; the caller checks ExpiresAt.
func (t *tx) SessionByTokenHash(ctx context.Context, hash []byte) (confidant.Session, error) {
	var s confidant.Session
	err := t.tx.QueryRow(t.c(ctx), `SELECT `+sessionCols+` FROM sessions WHERE token_hash = $1`, nonNil(hash)).
		Scan(&s.ID, &s.TokenHash, &s.UserID, &s.Kind, tm(&s.CreatedAt), tm(&s.LastSeen), tm(&s.ExpiresAt), &s.Client, &s.Agent)
	return s, mapErr(err, "get session", "Session")
}

const sessionCols = `id, token_hash, user_id, kind, created_at, last_seen, expires_at, client, agent`

// ListUserSessions returns the user's sessions of kinds (all when none).
func (t *tx) ListUserSessions(ctx context.Context, userID string, kinds ...string) ([]confidant.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE user_id = $1`
	args := []any{userID}
	if len(kinds) > 0 {
		q += ` AND kind = ANY($2)`
		args = append(args, kinds)
	}
	rows, _ := t.tx.Query(t.c(ctx), q+` ORDER BY created_at DESC, id LIMIT 1000`, args...)
	out, err := collect(rows, func(r pgx.CollectableRow) (confidant.Session, error) {
		var s confidant.Session
		err := r.Scan(&s.ID, &s.TokenHash, &s.UserID, &s.Kind, tm(&s.CreatedAt), tm(&s.LastSeen), tm(&s.ExpiresAt), &s.Client, &s.Agent)
		return s, err
	})
	return out, mapErr(err, "list sessions", "Session")
}

// KnownClient reports whether the user signed in from client key before,
// and from any client.
func (t *tx) KnownClient(ctx context.Context, userID string, key []byte) (known, anyClient bool, err error) {
	err = t.tx.QueryRow(t.c(ctx), `
		SELECT EXISTS (SELECT 1 FROM known_clients WHERE user_id = $1 AND client_key = $2),
		       EXISTS (SELECT 1 FROM known_clients WHERE user_id = $1)`, userID, nonNil(key)).Scan(&known, &anyClient)
	return known, anyClient, mapErr(err, "known client", "Client")
}

// PutClient records a sign-in from client key.
func (t *tx) PutClient(ctx context.Context, userID string, key []byte, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO known_clients (user_id, client_key, first_seen, last_seen) VALUES ($1, $2, $3, $3)
		ON CONFLICT (user_id, client_key) DO UPDATE SET last_seen = excluded.last_seen`, userID, nonNil(key), ts(at))
	return mapErr(err, "put client", "Client")
}

// CreateNotice stores a notice.
func (t *tx) CreateNotice(ctx context.Context, n confidant.Notice) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO notices (id, user_id, kind, at, client, agent, count, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		n.ID, n.UserID, n.Kind, ts(n.At), n.Client, n.Agent, n.Count, ts(n.ReadAt))
	return mapErr(err, "create notice", "Notice")
}

// ListNotices returns the user's newest notices.
func (t *tx) ListNotices(ctx context.Context, userID string, limit int) ([]confidant.Notice, error) {
	rows, _ := t.tx.Query(t.c(ctx), `
		SELECT id, user_id, kind, at, client, agent, count, read_at FROM notices WHERE user_id = $1
		ORDER BY at DESC, id DESC LIMIT $2`, userID, limit)
	out, err := collect(rows, func(r pgx.CollectableRow) (confidant.Notice, error) {
		var n confidant.Notice
		err := r.Scan(&n.ID, &n.UserID, &n.Kind, tm(&n.At), &n.Client, &n.Agent, &n.Count, tm(&n.ReadAt))
		return n, err
	})
	return out, mapErr(err, "list notices", "Notice")
}

// LatestNotice returns the time of the user's newest notice of kind.
func (t *tx) LatestNotice(ctx context.Context, userID, kind string) (time.Time, error) {
	var at time.Time
	err := t.tx.QueryRow(t.c(ctx), `SELECT MAX(at) FROM notices WHERE user_id = $1 AND kind = $2`, userID, kind).Scan(tm(&at))
	return at, mapErr(err, "latest notice", "Notice")
}

// ReadNotices marks the user's unread notices read.
func (t *tx) ReadNotices(ctx context.Context, userID string, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `UPDATE notices SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, userID, ts(at))
	return mapErr(err, "read notices", "Notice")
}

// TouchSession sets LastSeen.
func (t *tx) TouchSession(ctx context.Context, id string, at time.Time) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE sessions SET last_seen = $2 WHERE id = $1`, id, ts(at))
	if err != nil {
		return mapErr(err, "touch session", "Session")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

// DeleteSession removes a session. Deleting a session that does not exist
// (signing out twice) is not an error.
func (t *tx) DeleteSession(ctx context.Context, id string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM sessions WHERE id = $1`, id)
	return mapErr(err, "delete session", "")
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM sessions WHERE user_id = $1`, userID)
	return mapErr(err, "delete user sessions", "")
}

// DeleteExpiredSessions removes sessions with ExpiresAt at or before now and
// returns how many it removed.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := t.tx.Exec(t.c(ctx), `DELETE FROM sessions WHERE expires_at <= $1`, now.UTC())
	if err != nil {
		return 0, mapErr(err, "delete expired sessions", "")
	}
	return int(tag.RowsAffected()), nil
}

// LinkIdentity links a single sign-on identity to a user.
func (t *tx) LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error {
	_, err := t.tx.Exec(t.c(ctx), `
		INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)`,
		issuer, subject, userID, ts(at))
	return mapErr(err, "link identity", "Identity")
}

// IdentityUser returns the user linked to a single sign-on identity.
func (t *tx) IdentityUser(ctx context.Context, issuer, subject string) (string, error) {
	var id string
	err := t.tx.QueryRow(t.c(ctx), `SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2`, issuer, subject).Scan(&id)
	return id, mapErr(err, "identity user", "Identity")
}

// DeleteUserIdentities unlinks every identity of a user.
func (t *tx) DeleteUserIdentities(ctx context.Context, userID string) error {
	_, err := t.tx.Exec(t.c(ctx), `DELETE FROM external_identities WHERE user_id = $1`, userID)
	return mapErr(err, "delete identities", "Identity")
}

// SetFactMAC replaces the fact MAC of a row of table (confidant.Fact*).
func (t *tx) SetFactMAC(ctx context.Context, table, id string, mac []byte) error {
	var q string
	switch table {
	case confidant.FactUsers:
		q = `UPDATE users SET fact_mac = $2 WHERE id = $1`
	case confidant.FactCare:
		q = `UPDATE care_relationships SET fact_mac = $2 WHERE id = $1`
	case confidant.FactBreakGlass:
		q = `UPDATE break_glass SET fact_mac = $2 WHERE id = $1`
	default:
		return confidant.Errorf(confidant.KindInvalid, "invalid_fact_table", "Unknown table of authorization facts.")
	}
	tag, err := t.tx.Exec(t.c(ctx), q, id, mac)
	if err != nil {
		return mapErr(err, "set fact MAC", "")
	}
	if tag.RowsAffected() == 0 {
		return notFound("Row")
	}
	return nil
}

// SetUserClose replaces an account's identity and address indexes.
func (t *tx) SetUserClose(ctx context.Context, userID string, identity, address []byte) error {
	tag, err := t.tx.Exec(t.c(ctx), `UPDATE users SET identity_index = $2, address_index = $3 WHERE id = $1`,
		userID, nullBytes(identity), nullBytes(address))
	if err != nil {
		return mapErr(err, "set close indexes", "User")
	}
	if tag.RowsAffected() == 0 {
		return notFound("User")
	}
	return nil
}
