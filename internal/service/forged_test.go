package service_test

import (
	"context"
	"sync/atomic"
	"testing"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// slowAuditor records events only once released.
type slowAuditor struct {
	release chan struct{}
	got     atomic.Int32
	last    atomic.Value
}

func (a *slowAuditor) Record(_ context.Context, evs ...confidant.AuditEvent) error {
	<-a.release
	a.last.Store(evs[0])
	a.got.Add(int32(len(evs)))
	return nil
}

// TestForgedFactsWait: a report is recorded from a goroutine (the hook runs
// inside a transaction) and Wait returns only once it is recorded, so a
// server's shutdown does not close the log under it.
func TestForgedFactsWait(t *testing.T) {
	a := &slowAuditor{release: make(chan struct{})}
	f := service.NewForgedFacts(a, nil)
	f.Report("care", "row-1") // returns at once though the auditor blocks
	done := make(chan struct{})
	go func() { f.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("Wait returned before the event was recorded")
	default:
	}
	close(a.release)
	<-done
	if a.got.Load() != 1 {
		t.Fatalf("%d events recorded, want 1", a.got.Load())
	}
	ev := a.last.Load().(confidant.AuditEvent)
	if ev.Action != service.ActFactForged || ev.RecordID != "row-1" || ev.Purpose != "care" || ev.Outcome != confidant.OutcomeDenied || ev.Time.IsZero() {
		t.Errorf("event %+v", ev)
	}
}
