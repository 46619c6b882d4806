package api

import (
	"bytes"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// TestNotFoundIsOneAnswer: "does not exist" and "not yours" read alike,
// for patients, notes and attachments, whichever layer refused.
func TestNotFoundIsOneAnswer(t *testing.T) {
	e := newEnv(t)
	ther := e.login(t, "therapist")
	for _, pair := range [][2]string{
		{"/api/v1/patients/" + confidant.NewID(), "/api/v1/patients/" + e.PatientC.ID},
		{"/api/v1/patients/" + confidant.NewID() + "/chart", "/api/v1/patients/" + e.PatientB.ID + "/chart"},
		{"/api/v1/notes/" + confidant.NewID(), "/api/v1/patients/not-an-id"},
		{"/api/v1/attachments/" + confidant.NewID(), "/api/v1/patients/" + e.PatientC.ID + "/notes"},
	} {
		a := e.do(t, req{Method: "GET", Path: pair[0], Token: ther})
		b := e.do(t, req{Method: "GET", Path: pair[1], Token: ther})
		if a.Code != 404 || b.Code != 404 || !bytes.Equal(a.Body, b.Body) {
			t.Errorf("%s: %d %s\n%s: %d %s", pair[0], a.Code, a.Body, pair[1], b.Code, b.Body)
		}
	}
}
