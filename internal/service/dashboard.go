package service

import (
	"context"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/policy"
)

// ActivityReader is the part of the access log the dashboard reads
// (internal/audit's Log implements it).
type ActivityReader interface {
	Activity(ctx context.Context, from, to time.Time, bucket time.Duration, top int) (confidant.Activity, error)
}

// Dashboard is what security officers and the data protection officer
// watch from (docs/INCIDENTS.md, "The dashboard"): accesses per hour per
// clinic over the last day, and the accounts that reached the most
// distinct patients over the last week. Ids and counts only, with the
// names of clinics and staff accounts to show them by.
type Dashboard struct {
	At     time.Time
	Hourly confidant.Activity // the last 24 hours, hour by hour
	Week   confidant.Activity // the last 7 days, day by day, with the top accounts
	// Clinics and Accounts name the clinics and staff accounts by id.
	Clinics  map[string]string
	Accounts map[string]string
	// AlertDays are the starts of the last 14 days (UTC); AlertsByRule
	// counts the alerts raised each day, by rule.
	AlertDays    []time.Time
	AlertsByRule map[string][]int
	// Incidents are the open incidents with their clocks, nearest deadline
	// first.
	Incidents []IncidentClock
}

// DashboardAlertDays is how many days of alerts the dashboard charts.
const DashboardAlertDays = 14

// DashboardTop is how many accounts the dashboard ranks.
const DashboardTop = 10

// Dashboard returns the dashboard's figures, recorded as one access-log
// event. It is for those who may query the access log (security officers
// and the DPO).
func (s *Service) Dashboard(ctx context.Context) (Dashboard, error) {
	if _, err := need(ctx, policy.QueryAudit); err != nil {
		return Dashboard{}, s.wrote(ctx, ActDashboard, "", "", err)
	}
	ar, ok := s.auditRead.(ActivityReader)
	if !ok {
		return Dashboard{}, confidant.ErrNoAccessLog
	}
	if err := s.record(ctx, s.event(ctx, ActDashboard, "", "", confidant.OutcomeOK)); err != nil {
		return Dashboard{}, err
	}
	now := s.clock()
	d := Dashboard{At: now, Clinics: map[string]string{}, Accounts: map[string]string{}}
	hourEnd := now.Truncate(time.Hour).Add(time.Hour)
	var err error
	if d.Hourly, err = ar.Activity(ctx, hourEnd.Add(-24*time.Hour), hourEnd, time.Hour, 0); err != nil {
		return Dashboard{}, err
	}
	dayEnd := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if d.Week, err = ar.Activity(ctx, dayEnd.Add(-7*24*time.Hour), dayEnd, 24*time.Hour, DashboardTop); err != nil {
		return Dashboard{}, err
	}
	first := dayEnd.Add(-DashboardAlertDays * 24 * time.Hour)
	d.AlertsByRule = map[string][]int{}
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		for i := range DashboardAlertDays {
			from := first.Add(time.Duration(i) * 24 * time.Hour)
			d.AlertDays = append(d.AlertDays, from)
			counts, err := tx.CountAlerts(ctx, from, from.Add(24*time.Hour))
			if err != nil {
				return err
			}
			for rule, n := range counts {
				if d.AlertsByRule[rule] == nil {
					d.AlertsByRule[rule] = make([]int, DashboardAlertDays)
				}
				d.AlertsByRule[rule][i] = n
			}
		}
		cs, err := tx.ListClinics(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			d.Clinics[c.ID] = c.Name
		}
		for _, r := range d.Week.TopAccounts {
			u, err := tx.User(ctx, r.ActorID)
			switch {
			case err == nil:
				d.Accounts[u.ID] = u.Username
			case !confidant.IsKind(err, confidant.KindNotFound):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Dashboard{}, err
	}
	d.Incidents, err = s.openIncidentClocks(ctx)
	return d, err
}
