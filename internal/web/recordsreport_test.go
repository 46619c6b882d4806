package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// The security officers' access-log page has a line on the latest records
// check: none yet, all matching, or an alert with the number of findings.
func TestAccessLogRecordsCheckLine(t *testing.T) {
	e := newEnv(t)
	s := e.as(e.w.Security)
	r := s.get("/access-log")
	if r.status != http.StatusOK || !strings.Contains(r.body, "has not checked the records") {
		t.Fatalf("before any check: %d\n%s", r.status, text(r.body))
	}
	e.w.Service.SetRecordsReport(&confidant.RecordsReport{CheckedAt: time.Now(), Stored: 12, Verified: 12, Findings: []confidant.RecordFinding{}})
	if r = s.get("/access-log"); !strings.Contains(text(r.body), "the 12 records match the access log") {
		t.Fatalf("after a clean check:\n%s", text(r.body))
	}
	e.w.Service.SetRecordsReport(&confidant.RecordsReport{CheckedAt: time.Now(), Stored: 12, Verified: 10, Findings: []confidant.RecordFinding{
		{Finding: confidant.FindingMissing, Kind: confidant.RecordNote, RecordID: confidant.NewID(), LogIndex: 3},
		{Finding: confidant.FindingUnlogged, Kind: confidant.RecordPlan, RecordID: confidant.NewID(), LogIndex: -1},
	}})
	if r = s.get("/access-log"); !strings.Contains(text(r.body), "2 records do NOT match the access log") || !strings.Contains(r.body, `role="alert" id="records-check"`) {
		t.Fatalf("after findings:\n%s", text(r.body))
	}
}
