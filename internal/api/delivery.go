package api

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/service"
)

// Recipients of alerts, the outbox and the board digest
// (docs/INCIDENTS.md, "Recipients, delivery and the board digest").
// Security officers and the data protection officer.

// recipientRequest: POST /api/v1/recipients. address is an e-mail
// address (kind email); url and secret a webhook's (kind webhook).
type recipientRequest struct {
	Kind    string `json:"kind"`
	Label   string `json:"label"`
	Address string `json:"address"`
	URL     string `json:"url"`
	Secret  string `json:"secret"`
}

// approveRequest: POST /api/v1/recipients/changes/{id}/approve.
type approveRequest struct {
	Code string `json:"code"` // the approver's second-factor code
}

type recipientsView struct {
	Recipients []service.RecipientView `json:"recipients"`
}

type recipientChangesView struct {
	Changes []service.RecipientChange `json:"changes"`
}

type outboxView struct {
	Items []service.OutboxItemView `json:"items"`
}

// listRecipients: GET /api/v1/recipients.
func (h *handler) listRecipients(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.svc.Recipients(r.Context())
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []service.RecipientView{}
	}
	writeJSON(w, http.StatusOK, recipientsView{Recipients: rs})
	return nil
}

// proposeRecipient: POST /api/v1/recipients {"kind","label","address"|"url","secret"?}.
func (h *handler) proposeRecipient(w http.ResponseWriter, r *http.Request) error {
	var req recipientRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	addr := req.Address
	if req.Kind == "webhook" || (addr == "" && req.URL != "") {
		addr = req.URL
	}
	v, err := h.svc.ProposeRecipient(r.Context(), req.Kind, req.Label, addr, req.Secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// proposeRecipientRemoval: POST /api/v1/recipients/{id}/remove.
func (h *handler) proposeRecipientRemoval(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := h.svc.ProposeRecipientRemoval(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// listRecipientChanges: GET /api/v1/recipients/changes.
func (h *handler) listRecipientChanges(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.RecipientChanges(r.Context())
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []service.RecipientChange{}
	}
	writeJSON(w, http.StatusOK, recipientChangesView{Changes: cs})
	return nil
}

// approveRecipientChange: POST /api/v1/recipients/changes/{id}/approve {"code"}.
func (h *handler) approveRecipientChange(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req approveRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	v, err := h.svc.ApproveRecipientChange(r.Context(), id, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// listOutbox: GET /api/v1/outbox?status=pending|failed|delivered.
func (h *handler) listOutbox(w http.ResponseWriter, r *http.Request) error {
	items, err := h.svc.Outbox(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, outboxView{Items: items})
	return nil
}

// boardDigest: GET /api/v1/board-digest.
func (h *handler) boardDigest(w http.ResponseWriter, r *http.Request) error {
	d, err := h.svc.BoardDigest(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
