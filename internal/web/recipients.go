package web

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/service"
)

// Recipients of alerts, their changes (two people), the outbox and the
// board digest (docs/INCIDENTS.md, "Recipients, delivery and the board
// digest"): security officers and the data protection officer.

type recipientsView struct {
	page
	Recipients []service.RecipientView
	Changes    []service.RecipientChange
	Outbox     []service.OutboxItemView
	Names      map[string]string
	// The proposal form, kept on an error (never the secret).
	Kind, Label, Address string
}

func (s *server) recipientsView(r *http.Request) (*recipientsView, error) {
	v := &recipientsView{page: s.page(r, "Recipients of alerts"), Kind: "email", Label: "board"}
	v.Section = "recipients"
	var err error
	if v.Recipients, err = s.svc.Recipients(r.Context()); err != nil {
		return nil, err
	}
	if v.Changes, err = s.svc.RecipientChanges(r.Context()); err != nil {
		return nil, err
	}
	// Not delivered first (the ones to look at: failing, then never
	// tried), then the latest deliveries.
	for _, st := range []string{"failed", "pending", "delivered"} {
		items, err := s.svc.Outbox(r.Context(), st)
		if err != nil {
			return nil, err
		}
		if st == "delivered" && len(items) > 20 {
			items = items[:20]
		}
		v.Outbox = append(v.Outbox, items...)
	}
	ids := []string{}
	for _, rc := range v.Recipients {
		ids = append(ids, rc.ProposedBy, rc.ApprovedBy, rc.RemoveProposedBy, rc.RemovedBy)
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	return v, nil
}

// GET /recipients
func (s *server) recipients(w http.ResponseWriter, r *http.Request) {
	v, err := s.recipientsView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "recipients", v)
}

// recipientFail shows the page again with the error.
func (s *server) recipientFail(w http.ResponseWriter, r *http.Request, err error, keep func(*recipientsView)) {
	v, lerr := s.recipientsView(r)
	if lerr != nil {
		s.fail(w, r, lerr)
		return
	}
	if keep != nil {
		keep(v)
	}
	s.formFail(w, r, err, "recipients", v)
}

// POST /recipients: kind, label, address, secret.
func (s *server) proposeRecipient(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := r.PostForm
	if _, err := s.svc.ProposeRecipient(r.Context(), f.Get("kind"), f.Get("label"), f.Get("address"), f.Get("secret")); err != nil {
		s.recipientFail(w, r, err, func(v *recipientsView) { v.Kind, v.Label, v.Address = f.Get("kind"), f.Get("label"), f.Get("address") })
		return
	}
	redirect(w, r, "/recipients", "recipient-proposed")
}

// POST /recipients/{id}/remove
func (s *server) proposeRecipientRemoval(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if _, err := s.svc.ProposeRecipientRemoval(r.Context(), r.PathValue("id")); err != nil {
		s.recipientFail(w, r, err, nil)
		return
	}
	redirect(w, r, "/recipients", "recipient-removal-proposed")
}

// POST /recipients/changes/{id}/approve: code.
func (s *server) approveRecipientChange(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if _, err := s.svc.ApproveRecipientChange(r.Context(), r.PathValue("id"), r.PostForm.Get("code")); err != nil {
		s.recipientFail(w, r, err, nil)
		return
	}
	redirect(w, r, "/recipients", "recipient-change-approved")
}

type boardDigestView struct {
	page
	Digest service.BoardDigest
}

// GET /board-digest
func (s *server) boardDigest(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.BoardDigest(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &boardDigestView{page: s.page(r, "Board digest"), Digest: d}
	v.Section = "board-digest"
	s.render(w, r, http.StatusOK, "board-digest", v)
}
