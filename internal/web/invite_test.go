package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// A security officer sees the therapist accounts awaiting approval on the
// accounts page and approves one; the inviting manager's own accounts page
// does not exist for them.
func TestApprovalPage(t *testing.T) {
	e := newEnv(t)
	inv, err := e.w.Service.CreateStaff(e.w.As(e.w.Manager), service.StaffInput{
		Username: "newbie", DisplayName: "Nina Newbie", Role: confidant.RoleTherapist,
		ClinicIDs: []string{e.w.ClinicA.ID}, Email: "newbie@example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	sec := e.as(e.w.Security)
	r := sec.get("/accounts")
	if r.status != http.StatusOK || !has(r.body, "Awaiting approval") || !strings.Contains(r.body, "/accounts/"+inv.User.ID+"/approve") {
		t.Fatalf("accounts page: %d\n%s", r.status, text(r.body))
	}
	if r := e.as(e.w.Manager).post("/accounts/"+inv.User.ID+"/approve", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("the inviting manager approves: %d", r.status)
	}
	// The officer's second factor again (step-up): without it, nothing.
	if r := sec.post("/accounts/"+inv.User.ID+"/approve", url.Values{}); r.status != http.StatusBadRequest || !has(r.body, "current code of your second factor") {
		t.Errorf("approval without a code: %d\n%s", r.status, text(r.body))
	}
	r = sec.follow("/accounts/"+inv.User.ID+"/approve", url.Values{"code": {testfix.Code(t, e.w.TOTPSecret(e.w.Security))}})
	if !has(r.body, "The account was approved.") || has(r.body, "Awaiting approval") {
		t.Errorf("after approval:\n%s", text(r.body))
	}
}
