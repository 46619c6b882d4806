package web

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// The Sign-ins page: the user's own active sessions (client, start, last
// use), each of which they can end, and the security notices about their
// account (sign-ins from new clients, repeated failures).

type sessionsView struct {
	page
	Sessions []service.SessionInfo
	Notices  []confidant.Notice
	Unread   int
}

// GET /sessions
func (s *server) sessionsPage(w http.ResponseWriter, r *http.Request) {
	ss, err := s.svc.MySessions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ns, err := s.svc.MyNotices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &sessionsView{page: s.page(r, "Sign-ins"), Sessions: ss, Notices: ns}
	for _, n := range ns {
		if n.ReadAt.IsZero() {
			v.Unread++
		}
	}
	s.render(w, r, http.StatusOK, "sessions", v)
}

// POST /sessions/{id}/end ends one of the user's own sessions; ending the
// current one signs out.
func (s *server) endSessionForm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.svc.EndSession(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if id == a.SessionID {
		s.clearCookie(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	redirect(w, r, "/sessions", "session-ended")
}

// POST /notices/read marks the user's notices read.
func (s *server) readNotices(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.ReadNotices(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}
