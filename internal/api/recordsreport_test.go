package api

import (
	"net/http"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestRecordsReport: security officers read the latest records check
// (null before the first), with its findings' ids; other roles are
// refused.
func TestRecordsReport(t *testing.T) {
	e := newEnv(t)
	sec, mgr, ther := e.login(t, "security"), e.login(t, "manager"), e.login(t, "therapist")
	var got struct {
		Report *confidant.RecordsReport `json:"report"`
	}
	e.call(t, 200, "GET", "/api/v1/audit/records-report", sec, nil).decode(t, &got)
	if got.Report != nil {
		t.Fatalf("a report before any check: %+v", got.Report)
	}
	rep, err := testfix.Log(e.Store).VerifyRecords(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.Findings = append(rep.Findings, confidant.RecordFinding{Finding: confidant.FindingMissing, Kind: confidant.RecordNote,
		RecordID: confidant.NewID(), LogIndex: 7, LoggedVersion: 2})
	e.Service.SetRecordsReport(rep)
	e.call(t, 200, "GET", "/api/v1/audit/records-report", sec, nil).decode(t, &got)
	if got.Report == nil || len(got.Report.Findings) != 1 || got.Report.Findings[0] != rep.Findings[0] || got.Report.LogSize != rep.LogSize {
		t.Fatalf("report: %+v, want %+v", got.Report, rep)
	}
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/records-report", mgr, nil)
	e.call(t, http.StatusForbidden, "GET", "/api/v1/audit/records-report", ther, nil)
}
