package postgres

import (
	"errors"
	"fmt"
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
)

// uniqueCodes maps unique constraints to stable error codes and messages.
// Constraints not listed here give code "conflict".
var uniqueCodes = map[string]struct{ code, message string }{
	"users_username_key":         {"username_taken", "The username is already taken."},
	"organisation_singleton_key": {"conflict", "The organisation already exists."},
}

// foreignKeys maps foreign key constraints to the thing that must exist.
var foreignKeys = map[string]string{
	"patients_clinic_fkey":         "Clinic",
	"patient_keys_patient_fkey":    "Patient", // deferred: reported at commit
	"users_patient_fkey":           "Patient",
	"user_clinics_user_fkey":       "User",
	"user_clinics_clinic_fkey":     "Clinic",
	"sessions_user_fkey":           "User",
	"care_patient_fkey":            "Patient",
	"care_therapist_fkey":          "Therapist",
	"care_clinic_fkey":             "Clinic",
	"notes_patient_fkey":           "Patient",
	"note_versions_note_fkey":      "Note",
	"process_notes_patient_fkey":   "Patient",
	"diagnoses_patient_fkey":       "Patient",
	"treatment_plans_patient_fkey": "Patient",
	"measures_patient_fkey":        "Patient",
	"attachments_patient_fkey":     "Patient",
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

// mapErr turns an error from pgx into a *confidant.Error. op says what the
// store was doing ("get patient"); thing names the record for KindNotFound
// ("Patient").
func mapErr(err error, op, thing string) error {
	if err == nil {
		return nil
	}
	var ce *confidant.Error
	if errors.As(err, &ce) {
		return err
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
