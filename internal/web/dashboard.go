package web

import (
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/svgchart"
)

// helsinki is the organisation's time zone, in which the dashboard labels
// hours and days.
var helsinki = func() *time.Location {
	l, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		return time.UTC
	}
	return l
}()

type hourlyRow struct {
	Name   string
	Counts []int
	Total  int
}

type reachRow struct {
	Name     string
	Role     string
	Patients int
	Events   int
}

type alertRuleRow struct {
	Rule   string
	Counts []int
	Total  int
}

type incidentClockRow struct {
	ID, Title, Clock string
	Overdue          bool
}

type dashboardView struct {
	page
	D          service.Dashboard
	AlertDays  []string
	AlertRules []alertRuleRow
	AlertsSVG  template.HTML
	Incidents  []incidentClockRow
	HourLabels []string
	Clinics    []hourlyRow // the hourly table: one row per clinic
	HourlySVG  template.HTML
	Top        []reachRow
	TopSVG     template.HTML
}

// dashboard: GET /dashboard, the security officers' and the DPO's page to
// watch from: charts drawn on the server, the numbers behind them in
// tables.
func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Dashboard(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &dashboardView{page: s.page(r, "Dashboard"), D: d}
	v.Section = "dashboard"
	for _, b := range d.Hourly.Buckets {
		v.HourLabels = append(v.HourLabels, b.In(helsinki).Format("15"))
	}
	for id, counts := range d.Hourly.ByClinic {
		name := d.Clinics[id]
		if name == "" {
			name = "(no clinic)"
		}
		row := hourlyRow{Name: name, Counts: counts}
		for _, c := range counts {
			row.Total += c
		}
		v.Clinics = append(v.Clinics, row)
	}
	sort.Slice(v.Clinics, func(i, j int) bool {
		if v.Clinics[i].Total != v.Clinics[j].Total {
			return v.Clinics[i].Total > v.Clinics[j].Total
		}
		return v.Clinics[i].Name < v.Clinics[j].Name
	})
	// The chart stacks the six busiest clinics and the rest together.
	bars := svgchart.Bars{Title: "Accesses per hour, last 24 hours (Helsinki time)", Labels: v.HourLabels, EveryNthLabel: 3}
	rest := make([]float64, len(v.HourLabels))
	for i, c := range v.Clinics {
		vals := make([]float64, len(c.Counts))
		for k, n := range c.Counts {
			vals[k] = float64(n)
		}
		if i < 6 {
			bars.Series = append(bars.Series, svgchart.Series{Name: c.Name, Values: vals})
			continue
		}
		for k := range vals {
			rest[k] += vals[k]
		}
	}
	if len(v.Clinics) > 6 {
		bars.Series = append(bars.Series, svgchart.Series{Name: "other clinics", Values: rest})
	}
	if v.HourlySVG, err = bars.SVG(); err != nil {
		s.fail(w, r, err)
		return
	}
	hb := svgchart.HBars{Title: "Accounts with the most distinct patients, last 7 days"}
	for _, a := range d.Week.TopAccounts {
		name := d.Accounts[a.ActorID]
		if name == "" {
			name = a.ActorID
		}
		v.Top = append(v.Top, reachRow{Name: name, Role: a.Role.Label(), Patients: a.Patients, Events: a.Events})
		hb.Items = append(hb.Items, svgchart.Item{Label: name, Value: float64(a.Patients)})
	}
	if v.TopSVG, err = hb.SVG(); err != nil {
		s.fail(w, r, err)
		return
	}
	// Alerts by rule, day by day.
	for _, d0 := range d.AlertDays {
		v.AlertDays = append(v.AlertDays, d0.In(helsinki).Format("2.1."))
	}
	ab := svgchart.Bars{Title: "Alerts by rule, last 14 days", Labels: v.AlertDays, EveryNthLabel: 2}
	for rule, counts := range d.AlertsByRule {
		row := alertRuleRow{Rule: rule, Counts: counts}
		for _, n := range counts {
			row.Total += n
		}
		v.AlertRules = append(v.AlertRules, row)
	}
	sort.Slice(v.AlertRules, func(i, j int) bool { return v.AlertRules[i].Rule < v.AlertRules[j].Rule })
	for _, row := range v.AlertRules {
		vals := make([]float64, len(row.Counts))
		for k, n := range row.Counts {
			vals[k] = float64(n)
		}
		ab.Series = append(ab.Series, svgchart.Series{Name: row.Rule, Values: vals})
	}
	if v.AlertsSVG, err = ab.SVG(); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.svc.Now()
	for _, c := range d.Incidents {
		v.Incidents = append(v.Incidents, incidentClockRow{ID: c.ID, Title: c.Title, Clock: clockText(c, now), Overdue: c.Overdue})
	}
	s.render(w, r, http.StatusOK, "dashboard", v)
}
