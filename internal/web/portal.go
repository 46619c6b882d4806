package web

import (
	"net/http"

	confidant "github.com/confidanthealth/confidant"
)

// recordView is what a patient sees of their own record: their details and
// the notes released to them (signed versions only, as the service returns
// them).
type recordView struct {
	page
	Patient confidant.Patient
	Notes   []confidant.Note
	Names   map[string]string
}

func (s *server) myRecord(w http.ResponseWriter, r *http.Request) {
	p, ns, err := s.svc.MyRecord(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []string
	for _, n := range ns {
		for _, v := range n.Versions {
			ids = append(ids, v.AuthorID)
		}
	}
	names, err := s.svc.UserNames(r.Context(), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &recordView{page: s.page(r, "My record"), Patient: p, Notes: ns, Names: names}
	v.Section = "record"
	s.render(w, r, http.StatusOK, "record", v)
}
