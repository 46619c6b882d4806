package confidant

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an Error. Transports map kinds to status codes in one
// place (internal/httperr).
type Kind int

// Error kinds.
const (
	KindInternal        Kind = iota // a bug or an unexpected failure; details are logged, never shown
	KindInvalid                     // the request is malformed or fails validation
	KindNotFound                    // no such thing, or the actor may not know it exists
	KindConflict                    // the request conflicts with current state (e.g. editing a signed note)
	KindPermission                  // the actor is known but may not do this
	KindUnauthenticated             // no valid sign-in
	KindUnavailable                 // a dependency is down; retry later
	KindTooLarge                    // the request body or upload exceeds a limit
	KindUnsupported                 // e.g. a disallowed content type
	KindRateLimited                 // too many attempts
)

var kindNames = map[Kind]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindPermission:      "permission_denied",
	KindUnauthenticated: "unauthenticated",
	KindUnavailable:     "unavailable",
	KindTooLarge:        "too_large",
	KindUnsupported:     "unsupported",
	KindRateLimited:     "rate_limited",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "internal"
}

// Error is the one error type of Confidant.
//
// Code is a stable, machine-readable identifier (for example
// "invalid_identity_code"); Message is safe to show to the user. Neither may
// ever contain patient data or secrets: messages name fields, not values. Err
// is the underlying cause, for logs only.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind and code with a formatted,
// user-safe message. Arguments must not contain patient data.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind that wraps cause. The cause is kept
// for logs; only code and message reach the user.
func Wrap(cause error, kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message, Err: cause}
}

// Common errors. Compare with errors.Is only through KindOf and CodeOf.
var (
	ErrNotFound        = &Error{Kind: KindNotFound, Code: "not_found", Message: "Not found."}
	ErrUnauthenticated = &Error{Kind: KindUnauthenticated, Code: "unauthenticated", Message: "Please sign in."}
	ErrPermission      = &Error{Kind: KindPermission, Code: "permission_denied", Message: "You are not allowed to do this."}
)

// KindOf returns the Kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the Code of the first *Error in err's chain, or "internal".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return "internal"
}

// MessageOf returns the user-safe message of the first *Error in err's chain,
// or a generic message for internal errors.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal && e.Message != "" {
		return e.Message
	}
	return "Something went wrong on our side. The problem has been logged."
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// CodeOutcomeUnknown is the code of a KindUnavailable error for a change
// whose commit was sent to the database but whose answer never came back
// (the connection broke, the database crashed or failed over): the change
// may or may not have been saved. Its message must not claim that nothing
// changed; the client should look (not resubmit a form) before trying again.
const CodeOutcomeUnknown = "outcome_unknown"

// ErrOutcomeUnknown wraps cause as a CodeOutcomeUnknown error.
func ErrOutcomeUnknown(cause error) *Error {
	return Wrap(cause, KindUnavailable, CodeOutcomeUnknown,
		"The database stopped answering while saving, so it is not known whether the change was saved. Open the record again to check whether it was saved before trying again.")
}

// RetryAfterError is the cause of a KindRateLimited *Error that knows when
// the request may be tried again; transports turn it into a Retry-After
// header (see RetryAfter).
type RetryAfterError struct {
	After time.Duration
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("retry after %s", e.After) }

// RetryAfter returns the wait of the first *RetryAfterError in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var e *RetryAfterError
	if errors.As(err, &e) {
		return e.After, true
	}
	return 0, false
}
