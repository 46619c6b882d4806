package service_test

import (
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestChangePasswordRules: the password rules as users meet them when they
// change their own password: 8 characters accepted, 64 and more too,
// common passwords refused whatever their case.
func TestChangePasswordRules(t *testing.T) {
	w := newWorld(t)
	ctx := w.As(w.PatientUser)
	current := testfix.Password
	for _, tc := range []struct {
		pw, code string
	}{
		{"zq8 wv3x", ""},
		{strings.Repeat("long passphrase ", 5), ""}, // 80 characters
		{"short", "weak_password"},
		{"Password1", "common_password"},
		{"ILOVEYOU", "common_password"},
		{"sunshine1", "common_password"},
	} {
		err := w.Service.ChangePassword(ctx, current, tc.pw)
		if tc.code == "" {
			if err != nil {
				t.Fatalf("%q: %v", tc.pw, err)
			}
			current = tc.pw
			continue
		}
		wantCode(t, tc.pw, err, tc.code)
	}
	if _, err := w.Service.Login(t.Context(), w.PatientUser.Username, current, service.SessionAPI); err != nil {
		t.Fatalf("sign in with the last accepted password: %v", err)
	}
}
