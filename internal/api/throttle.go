package api

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/service"
)

// throttledView is an account with failed sign-ins counted against it.
type throttledView struct {
	Account     userView `json:"account"`
	Failures    int      `json:"failures"`
	Clients     int      `json:"clients"`
	MaxFailures int      `json:"max_failures"`
	LastFailure *string  `json:"last_failure"`
	Throttled   bool     `json:"throttled"`
	Until       *string  `json:"until"`
}

func newThrottledView(a service.ThrottledAccount) throttledView {
	return throttledView{
		Account: newUserView(a.User), Failures: a.Failures, Clients: a.Clients, MaxFailures: a.MaxFailures,
		LastFailure: timestamp(a.LastFailure), Throttled: a.Throttled, Until: timestamp(a.Until),
	}
}

// listThrottled: GET /api/v1/security/throttled (security officers).
func (h *handler) listThrottled(w http.ResponseWriter, r *http.Request) error {
	as, err := h.svc.ListThrottled(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": mapSlice(as, newThrottledView)})
	return nil
}

// clearThrottle: POST /api/v1/security/throttled/{id}/clear (security
// officers) forgets every client's failed sign-ins on the account.
func (h *handler) clearThrottle(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.svc.ClearThrottle(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
