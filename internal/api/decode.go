package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// maxBody is the largest JSON request body accepted. Attachments are not
// JSON and have their own limit (service.Config.MaxAttachment).
const maxBody = 1 << 20

// decode reads the JSON request body into v, which must point to one of the
// request structs of this package. It is the only way request bodies are
// read (attachments excepted):
//
//   - the Content-Type must be application/json (charset, if given, utf-8),
//     else 415 "unsupported_media_type";
//   - the body is limited to 1 MiB, else 413 "too_large";
//   - unknown fields are refused (400 "unknown_field"), as is anything after
//     the one JSON value (400 "malformed_json");
//   - syntax and type errors are 400 "malformed_json" with a message that
//     names the field but never repeats the value sent.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return errMediaType
	}
	return decodeJSON(http.MaxBytesReader(w, r.Body, maxBody), v)
}

var (
	errMediaType = confidant.Errorf(confidant.KindUnsupported, "unsupported_media_type",
		"Send the request body as JSON with Content-Type: application/json.")
	errTooLarge = confidant.Errorf(confidant.KindTooLarge, "too_large",
		"The request body is larger than the limit of 1 MiB.")
)

// decodeJSON decodes exactly one JSON object from rd into v. Every error it
// returns is a *confidant.Error of a 4xx kind, except for a programming error
// (v not a pointer), which is internal.
func decodeJSON(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, v)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return malformed("The request body must hold exactly one JSON object.")
	}
	return nil
}

func malformed(format string, args ...any) error {
	return confidant.Errorf(confidant.KindInvalid, "malformed_json", format, args...)
}

// fieldName matches the JSON field names the decoder may repeat back.
var fieldName = regexp.MustCompile(`^[A-Za-z0-9_.\[\]]{1,64}$`)

// jsonError turns an encoding/json error from decoding into v into a
// user-safe *confidant.Error. encoding/json's own messages can contain the
// offending value (for example "cannot unmarshal number 123456 into ..."),
// so they are never passed on.
func jsonError(err error, v any) error {
	var (
		mbe     *http.MaxBytesError
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return malformed("The request body is empty; send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("The request body ends in the middle of a JSON value.")
	case errors.As(err, &syntax):
		return malformed("The request body is not valid JSON (error at byte %d).", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed("The request body must be a JSON object.")
		}
		if !fieldName.MatchString(typ.Field) {
			return malformed("A field has the wrong type.")
		}
		want := typ.Type
		if ft, ok := fieldType(v, typ.Field); ok {
			want = ft
		}
		return malformed("Field %q must be %s.", typ.Field, typeName(want))
	case errors.As(err, &invalid):
		return confidant.Wrap(err, confidant.KindInternal, "internal", "")
	}
	// DisallowUnknownFields reports `json: unknown field "name"` with no
	// error type of its own.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if fieldName.MatchString(name) {
			return confidant.Errorf(confidant.KindInvalid, "unknown_field", "Unknown field %q; see docs/API.md for the fields of this request.", name)
		}
		return confidant.Errorf(confidant.KindInvalid, "unknown_field", "The request body has an unknown field; see docs/API.md for the fields of this request.")
	}
	// Anything else is a failure to read the body (e.g. the client went
	// away); the cause stays in the log, never in the answer.
	return confidant.Wrap(err, confidant.KindInvalid, "malformed_json", "The request body could not be read.")
}

// typeName describes a Go type in JSON terms for error messages.
func typeName(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if e := typeName(t.Elem()); t.Elem().Kind() != reflect.Slice && strings.HasPrefix(e, "a") {
			return "an array of " + strings.TrimPrefix(strings.TrimPrefix(e, "an "), "a ") + "s"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return "of another type"
}

// fieldType returns the Go type of the top-level field of *v whose JSON
// name is name, so that an error in an array element can name the array's
// type rather than the element's.
func fieldType(v any, name string) (reflect.Type, bool) {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	t = t.Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// parseTime parses an optional RFC 3339 time field; "" is the zero time.
// The error names the field, never the value.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, confidant.Errorf(confidant.KindInvalid, "invalid_"+field,
			"Field %q must be an RFC 3339 time such as 2025-01-31T14:00:00Z.", field)
	}
	return t.UTC(), nil
}

// parseDate parses an optional calendar date field (YYYY-MM-DD); "" is the
// zero time.
func parseDate(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, confidant.Errorf(confidant.KindInvalid, "invalid_"+field,
			"Field %q must be a date such as 2025-01-31.", field)
	}
	return t, nil
}

// missing is the error for a required field that was absent.
func missing(field string) error {
	return confidant.Errorf(confidant.KindInvalid, "missing_"+field, "Field %q is required.", field)
}

// requestTypes lists a zero value of every request struct, for the fuzz
// test and the decoder's documentation.
var requestTypes = []any{
	loginRequest{}, totpLoginRequest{}, totpEnrolRequest{}, patientRequest{}, accountRequest{}, noteRequest{}, draftRequest{},
	amendRequest{}, processNoteRequest{}, diagnosisRequest{}, diagnosisStatusRequest{},
	planRequest{}, measureRequest{}, clinicRequest{}, staffRequest{}, staffUpdateRequest{},
	careRequest{}, changePasswordRequest{}, patientSearchRequest{}, acceptInvitationRequest{}, breakGlassRequest{}, breakGlassReviewRequest{},
}
