package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/confidanthealth/confidant"
)

// SQLSTATE codes the store reacts to.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
	codeCharNotInRepertoire = "22021" // e.g. a NUL byte in text
	codeUntranslatable      = "22P05"
	codeQueryCanceled       = "57014" // cancelled by the client (ctx) or statement_timeout
)

// uniqueCodes maps unique constraints to stable error codes and messages.
// Constraints not listed here give code "conflict".
var uniqueCodes = map[string]struct{ code, message string }{
	"users_username_key":         {"username_taken", "The username is already taken."},
	"users_one_portal_account":   {"patient_has_account", "This patient already has a portal account."},
	"organisation_singleton_key": {"conflict", "The organisation already exists."},

	"webauthn_credentials_credential_id_key": {"credential_exists", "This passkey is registered already."},
	"webauthn_credentials_pkey":              {"credential_exists", "This passkey is registered already."},
	"webauthn_handles_pkey":                  {"conflict", "The user has a WebAuthn handle already."},
	"webauthn_handles_handle_key":            {"conflict", "This WebAuthn handle is taken."},
}

// foreignKeys maps foreign key constraints to the thing that must exist.
var foreignKeys = map[string]string{
	"patients_clinic_fkey":           "Clinic",
	"patient_keys_patient_fkey":      "Patient", // deferred: reported at commit
	"users_patient_fkey":             "Patient",
	"user_clinics_user_fkey":         "User",
	"user_clinics_clinic_fkey":       "Clinic",
	"sessions_user_fkey":             "User",
	"user_totp_user_fkey":            "User",
	"invitations_user_fkey":          "User",
	"webauthn_handles_user_fkey":     "User",
	"webauthn_credentials_user_fkey": "User",
	"recovery_codes_user_fkey":       "User",
	"care_patient_fkey":              "Patient",
	"care_therapist_fkey":            "Therapist",
	"care_clinic_fkey":               "Clinic",
	"notes_patient_fkey":             "Patient",
	"note_versions_note_fkey":        "Note",
	"process_notes_patient_fkey":     "Patient",
	"diagnoses_patient_fkey":         "Patient",
	"treatment_plans_patient_fkey":   "Patient",
	"measures_patient_fkey":          "Patient",
	"attachments_patient_fkey":       "Patient",
	"incident_letters_patient_fkey":  "Patient",
	"incident_letters_incident_fkey": "Incident",
	"incident_history_incident_fkey": "Incident",
	// attachment_chunks_attachment_fkey is deferred: it fails at commit when
	// chunks were put without CreateAttachment, a bug in the caller, so it
	// stays KindInternal.
}

// notFound is the error for an unknown id. thing names the kind of record
// ("Patient"), never a value.
func notFound(thing string) error {
	return &confidant.Error{Kind: confidant.KindNotFound, Code: "not_found", Message: thing + " not found."}
}

// conflict is the error for a broken state rule.
func conflict(code, message string) error {
	return &confidant.Error{Kind: confidant.KindConflict, Code: code, Message: message}
}

// invalid is the error for a request the store cannot accept.
func invalid(code, message string) error {
	return &confidant.Error{Kind: confidant.KindInvalid, Code: code, Message: message}
}

// internal wraps an unexpected error. op says what the store was doing.
func internal(op string, err error) error {
	return &confidant.Error{
		Kind:    confidant.KindInternal,
		Code:    "internal",
		Message: "Database error.",
		Err:     fmt.Errorf("postgres: %s: %w", op, redact(err)),
	}
}

// unavailable wraps an error that says the database cannot be used right
// now (see connectionFailed). op says what the store was doing.
func unavailable(op string, err error) error {
	return &confidant.Error{
		Kind:    confidant.KindUnavailable,
		Code:    "database_unavailable",
		Message: "The database is not available. Please try again later.",
		Err:     fmt.Errorf("postgres: %s: %w", op, redact(err)),
	}
}

// canceled wraps the error of a statement cancelled because the request's
// context ended (the client went away) or a statement timeout struck; code
// and message are those of the SQLite store.
func canceled(op string, err error) error {
	return &confidant.Error{
		Kind:    confidant.KindUnavailable,
		Code:    "canceled",
		Message: "The request was canceled or took too long.",
		Err:     fmt.Errorf("postgres: %s: %w", op, redact(err)),
	}
}

// connectionFailed reports whether err says that the database could not be
// used, rather than that it refused the statement: the connection could not
// be made, broke or timed out (network errors, EOF, a closed connection),
// or the server reported
// a connection exception (SQLSTATE class 08), an administrator, crash or
// startup shutdown (57P01, 57P02, 57P03, 57P04: dropped database), or
// insufficient resources (class 53: disk full, out of memory, too many
// connections). A read-write transaction begun on a server that has become
// a read-only standby fails at BEGIN (25006), which is unavailable like any
// failure to begin; a 25006 later is a write inside View, a bug (internal).
func connectionFailed(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "53"),
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "57P04":
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.Timeout(err)
}

// mapErr turns an error from pgx into a *confidant.Error. op says what the
// store was doing ("get patient"); thing names the record for KindNotFound
// ("Patient"). A failure of the connection or of the server as a whole
// (connectionFailed) is KindUnavailable with code "database_unavailable".
func mapErr(err error, op, thing string) error {
	if err == nil {
		return nil
	}
	var ce *confidant.Error
	if errors.As(err, &ce) {
		return err
	}
	// The caller's context ended (the client went away, or its deadline
	// passed): "canceled", as the SQLite store says, not an outage.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return canceled(op, err)
	}
	if connectionFailed(err) {
		return unavailable(op, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if thing == "" {
			thing = "Record"
		}
		return notFound(thing)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		cause := fmt.Errorf("postgres: %s: %w", op, redact(err))
		switch pe.Code {
		case codeUniqueViolation:
			u, ok := uniqueCodes[pe.ConstraintName]
			if !ok {
				if thing == "" {
					thing = "Record"
				}
				u.code, u.message = "conflict", thing+" already exists."
			}
			return &confidant.Error{Kind: confidant.KindConflict, Code: u.code, Message: u.message, Err: cause}
		case codeForeignKeyViolation:
			if t, ok := foreignKeys[pe.ConstraintName]; ok {
				return &confidant.Error{Kind: confidant.KindNotFound, Code: "not_found", Message: t + " not found.", Err: cause}
			}
		case codeSerialization, codeDeadlock:
			return &confidant.Error{Kind: confidant.KindUnavailable, Code: "try_again",
				Message: "The database was busy with a conflicting change. Please try again.", Err: cause}
		case codeQueryCanceled:
			return canceled(op, err)
		case codeCharNotInRepertoire, codeUntranslatable:
			return &confidant.Error{Kind: confidant.KindInvalid, Code: "invalid_text",
				Message: "The text contains characters that cannot be stored.", Err: cause}
		}
	}
	return internal(op, err)
}

// redact replaces a *pgconn.PgError in err by a dbError that keeps only
// what cannot contain data. Other errors are returned unchanged.
func redact(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	return &dbError{
		code:       pe.Code,
		constraint: pe.ConstraintName,
		table:      pe.TableName,
		column:     pe.ColumnName,
		message:    safeMessage(pe),
	}
}

// safeMessage returns the server's message for error classes whose messages
// quote SQL or object names but not values, and "" otherwise. Data
// exceptions (22), integrity violations (23) and anything unknown can quote
// values, which may be patient data.
func safeMessage(pe *pgconn.PgError) string {
	switch {
	case strings.HasPrefix(pe.Code, "08"), // connection
		strings.HasPrefix(pe.Code, "25"), // invalid transaction state
		strings.HasPrefix(pe.Code, "40"), // rollback
		strings.HasPrefix(pe.Code, "42"), // syntax error or access rule
		strings.HasPrefix(pe.Code, "53"), // insufficient resources
		strings.HasPrefix(pe.Code, "57"): // operator intervention
		return pe.Message
	}
	return ""
}

// dbError is a PostgreSQL error with everything that could quote a value
// (message, detail, hint, where) removed.
type dbError struct {
	code, constraint, table, column, message string
}

func (e *dbError) Error() string {
	var b strings.Builder
	b.WriteString("SQLSTATE ")
	b.WriteString(e.code)
	if e.message != "" {
		b.WriteString(": ")
		b.WriteString(e.message)
	}
	for _, f := range []struct{ k, v string }{{"table", e.table}, {"column", e.column}, {"constraint", e.constraint}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	return b.String()
}

// SQLState returns the SQLSTATE code, as *pgconn.PgError does.
func (e *dbError) SQLState() string { return e.code }
