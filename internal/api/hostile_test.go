package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestHostileInputs sends odd but well-formed and ill-formed values to
// every endpoint that takes input, as the roles that may call it, and
// checks that none of them is answered with a 5xx: bad input is always the
// client's error.
func TestHostileInputs(t *testing.T) {
	m := newMatrixWorld(t)
	ther, mgr, sec := m.login(t, "therapist"), m.login(t, "manager"), m.login(t, "security")
	values := []string{
		`""`, `"\u0000"`, `"\u0007bell"`, `"\ud800"`, `"\uffff"`, "\"\xff\xfe\"", `"` + strings.Repeat("é", 200_000) + `"`,
		`"0001-01-01T00:00:00Z"`, `"0000-01-01T00:00:00Z"`, `"9999-12-31T23:59:59Z"`, `"2025-01-31T14:00:00+23:59"`,
		`"2025-02-30"`, `"../../etc/passwd"`, `"<script>alert(1)</script>"`, `"F32.1"`, `"phq9"`, `"resolved"`,
		`"` + strings.Repeat("a", 300) + `"`, `" "`, `"DROP TABLE notes; --"`, `"x' OR '1'='1"`,
		`0`, `-1`, `9223372036854775807`, `1e308`, `true`, `null`, `[]`, `{}`,
		`["x"]`, `[0,1,2,3,4,5,6,7,8]`, `[3,3,3,3,3,3,3,3,3,3]`, `[-1,4,0,0,0,0,0,0,0]`,
	}
	type endpoint struct {
		method, path, token string
		fields              []string
	}
	endpoints := []endpoint{
		{"POST", "/api/v1/login", "", []string{"username", "password"}},
		{"POST", "/api/v1/login/totp", "", []string{"mfa_token", "code"}},
		{"POST", "/api/v1/login/totp/enrol", "", []string{"mfa_token"}},
		{"POST", "/api/v1/patients", ther, []string{"clinic_id", "given_name", "family_name", "identity_code", "phone", "email", "address"}},
		{"POST", "/api/v1/patients", mgr, []string{"clinic_id", "given_name", "family_name", "identity_code"}},
		{"POST", "/api/v1/patients/{patientC}/account", mgr, []string{"username", "password"}},
		{"POST", "/api/v1/patients/{patientA}/notes", ther, []string{"body", "template", "session_at"}},
		{"PUT", "/api/v1/notes/{draftEdit}/draft", ther, []string{"version", "template", "body"}},
		{"POST", "/api/v1/notes/{signed}/amend", ther, []string{"body", "reason"}},
		{"POST", "/api/v1/patients/{patientA}/process-notes", ther, []string{"body"}},
		{"POST", "/api/v1/patients/{patientA}/diagnoses", ther, []string{"code", "note"}},
		{"POST", "/api/v1/diagnoses/{diagnosis}/status", ther, []string{"status"}},
		{"POST", "/api/v1/patients/{patientA}/plans", ther, []string{"goals", "interventions", "review_on"}},
		{"POST", "/api/v1/patients/{patientA}/measures", ther, []string{"instrument", "answers", "taken_at"}},
		{"POST", "/api/v1/clinics", mgr, []string{"name", "city"}},
		{"PUT", "/api/v1/clinics/{clinicA}", mgr, []string{"name", "city"}},
		{"POST", "/api/v1/staff", mgr, []string{"username", "display_name", "role", "clinic_ids", "password"}},
		{"PUT", "/api/v1/staff/{other}", mgr, []string{"display_name", "clinic_ids", "disabled"}},
		{"POST", "/api/v1/care", mgr, []string{"patient_id", "therapist_id", "from"}},
		{"POST", "/api/v1/patients/search", ther, []string{"q"}},
		{"POST", "/api/v1/patients/search", mgr, []string{"clinic", "name", "limit", "offset"}},
	}
	base := map[string]string{
		"username": `"someone.new"`, "password": `"correct horse battery staple"`, "clinic_id": `"{clinicA}"`,
		"given_name": `"A"`, "family_name": `"B"`, "identity_code": `"131052-308T"`, "body": `"text"`,
		"template": `"free"`, "version": `1`, "code": `"F32.1"`, "status": `"active"`, "goals": `"g"`,
		"instrument": `"gad7"`, "answers": `[0,0,0,0,0,0,0]`, "name": `"N"`, "display_name": `"D"`,
		"role": `"therapist"`, "clinic_ids": `["{clinicA}"]`, "disabled": `false`, "patient_id": `"{patientC}"`,
		"therapist_id": `"{other}"`, "q": `"Aino"`, "clinic": `"{clinicA}"`, "limit": `10`, "offset": `0`,
	}
	statuses := map[int]int{}
	defer func() { t.Logf("statuses: %v", statuses) }()
	for _, ep := range endpoints {
		for _, field := range ep.fields {
			for _, v := range values {
				var parts []string
				for _, f := range ep.fields {
					val, ok := base[f]
					if f == field {
						val, ok = v, true
					}
					if ok {
						parts = append(parts, fmt.Sprintf("%q:%s", f, val))
					}
				}
				body := m.expand("{" + strings.Join(parts, ",") + "}")
				res := m.do(t, req{Method: ep.method, Path: m.expand(ep.path), Token: ep.token, Body: body})
				statuses[res.Code]++
				if res.Code >= 500 {
					t.Errorf("%s %s with %s=%.40s: status %d: %s", ep.method, ep.path, field, v, res.Code, res.Body)
				}
			}
		}
	}
	// Query parameters and path ids.
	for _, q := range []string{"%00", "%ff", "%C3%A4", strings.Repeat("a", 5000), "010190-902S", "__", "%25", "a%27%20OR%201%3D1"} {
		for _, u := range []struct{ path, token string }{
			{"/api/v1/patients?q=" + q, ther},
			{"/api/v1/patients?clinic=" + q, mgr},
			{"/api/v1/patients?clinic={clinicA}&name=" + q, mgr},
			{"/api/v1/patients?clinic={clinicA}&limit=" + q, mgr},
			{"/api/v1/staff?clinic=" + q, sec},
			{"/api/v1/care?clinic=" + q, mgr},
			{"/api/v1/care?clinic={clinicA}&active=" + q, mgr},
			{"/api/v1/patients/" + q, ther},
			{"/api/v1/notes/" + q, ther},
			{"/api/v1/attachments/" + q, ther},
		} {
			method := "GET"
			var body any
			if strings.Contains(u.path, "/attachments?") {
				method, body = "POST", []byte("plain text")
			}
			res := m.do(t, req{Method: method, Path: m.expand(u.path), Token: u.token, Body: body})
			if res.Code >= 500 {
				t.Errorf("%s %.60s: status %d: %s", method, u.path, res.Code, res.Body)
			}
		}
	}
	// Upload file names (a header).
	for _, cd := range []string{"attachment; filename=\"\x00\"", "attachment; filename*=UTF-8''%ff", "attachment; filename=" + strings.Repeat("a", 5000),
		"attachment; filename=\"../../etc/passwd\"", "attachment; filename=\"\u202eexe.txt\"", "inline", ";;;", "attachment; filename=\"<x>\""} {
		res := m.do(t, req{Method: "POST", Path: m.expand("/api/v1/patients/{patientA}/attachments"), Token: ther, Body: []byte("plain text"),
			Header: map[string]string{"Content-Disposition": cd}})
		if res.Code >= 500 {
			t.Errorf("upload with Content-Disposition %.60q: status %d: %s", cd, res.Code, res.Body)
		}
	}
}
