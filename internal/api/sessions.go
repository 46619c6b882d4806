package api

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
)

// sessionView is one of the user's own sessions.
type sessionView struct {
	ID        string  `json:"id"`
	Kind      string  `json:"kind"` // "web" or "api"
	Client    string  `json:"client"`
	Agent     string  `json:"agent"`
	CreatedAt *string `json:"created_at"`
	LastSeen  *string `json:"last_seen"`
	ExpiresAt *string `json:"expires_at"`
	Current   bool    `json:"current"`
}

// mySessions: GET /api/v1/me/sessions.
func (h *handler) mySessions(w http.ResponseWriter, r *http.Request) error {
	ss, err := h.svc.MySessions(r.Context())
	if err != nil {
		return err
	}
	out := make([]sessionView, 0, len(ss))
	for _, x := range ss {
		out = append(out, sessionView{
			ID: x.ID, Kind: x.Kind, Client: x.Client, Agent: x.Agent, CreatedAt: timestamp(x.CreatedAt),
			LastSeen: timestamp(x.LastSeen), ExpiresAt: timestamp(x.ExpiresAt), Current: x.Current,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

// endSession: DELETE /api/v1/me/sessions/{id} ends one of the user's own
// sessions; 404 for any other id.
func (h *handler) endSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.svc.EndSession(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noticeView is a security notice about the user's own account.
type noticeView struct {
	ID     string  `json:"id"`
	Kind   string  `json:"kind"` // "new_client" or "failures"
	At     *string `json:"at"`
	Client string  `json:"client"`
	Agent  string  `json:"agent,omitempty"`
	Count  int     `json:"count,omitempty"`
	Read   bool    `json:"read"`
}

func newNoticeViews(ns []confidant.Notice) []noticeView {
	out := make([]noticeView, 0, len(ns))
	for _, n := range ns {
		out = append(out, noticeView{ID: n.ID, Kind: n.Kind, At: timestamp(n.At), Client: n.Client, Agent: n.Agent, Count: n.Count, Read: !n.ReadAt.IsZero()})
	}
	return out
}

// myNotices: GET /api/v1/me/notices.
func (h *handler) myNotices(w http.ResponseWriter, r *http.Request) error {
	ns, err := h.svc.MyNotices(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": newNoticeViews(ns)})
	return nil
}

// readNotices: POST /api/v1/me/notices/read marks every notice read.
func (h *handler) readNotices(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.ReadNotices(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
