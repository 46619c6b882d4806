package api

import "net/http"

// recordsReport: GET /api/v1/audit/records-report (security officers): the
// latest records check the server ran (docs/AUDIT.md, "Records"), or
// {"report": null} before the first. Ids and counts only.
func (h *handler) recordsReport(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.svc.RecordsReport(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": rep})
	return nil
}
