package web

import (
	"fmt"
	"net/http"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
)

// chartView is a patient's chart as the therapist in care sees it.
type chartView struct {
	page
	service.Chart
	Names       map[string]string // user id -> display name
	ActiveCare  []confidant.CareRelationship
	ActiveDx    []confidant.Diagnosis
	ResolvedDx  []confidant.Diagnosis
	Plan        *confidant.TreatmentPlan
	Trends      []trendView
	Instruments []confidant.Instrument

	// The two forms on the chart itself, with their own messages.
	ProcessBody  string
	ProcessError string
	UploadError  string
	MaxUploadMiB int64
}

// chart shows a patient's chart.
func (s *server) chart(w http.ResponseWriter, r *http.Request) {
	v, err := s.chartView(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "chart", v)
}

// chartFail re-renders the chart after a refused chart form, with the
// message next to that form.
func (s *server) chartFail(w http.ResponseWriter, r *http.Request, err error, set func(*chartView, string)) {
	switch confidant.KindOf(err) {
	case confidant.KindNotFound, confidant.KindPermission, confidant.KindUnauthenticated, confidant.KindInternal, confidant.KindUnavailable:
		s.fail(w, r, err)
		return
	}
	v, e := s.chartView(r, r.PathValue("id"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	httpx.LogError(s.log, r, err)
	set(v, confidant.MessageOf(err))
	s.render(w, r, httpx.Status(err), "chart", v)
}

func (s *server) chartView(r *http.Request, id string) (*chartView, error) {
	var opts []service.ChartOption
	if r.URL.Query().Get("notes") == "all" {
		opts = append(opts, service.AllNotes())
	}
	c, err := s.svc.Chart(r.Context(), id, opts...)
	if err != nil {
		return nil, err
	}
	v := &chartView{Chart: c, Instruments: confidant.Instruments, MaxUploadMiB: s.svc.Config().MaxAttachment >> 20}
	v.page = s.page(r, c.Patient.Name(), crumbPatients)
	v.Section = "patients"
	now := s.now()
	var ids []string
	for _, cr := range c.Care {
		if cr.ActiveAt(now) {
			v.ActiveCare = append(v.ActiveCare, cr)
			ids = append(ids, cr.TherapistID)
		}
	}
	for _, d := range c.Diagnoses {
		ids = append(ids, d.RecordedBy)
		if d.Status == confidant.DiagnosisActive {
			v.ActiveDx = append(v.ActiveDx, d)
		} else {
			v.ResolvedDx = append(v.ResolvedDx, d)
		}
	}
	if len(c.Plans) > 0 {
		v.Plan = &c.Plans[0]
		ids = append(ids, c.Plans[0].AuthorID)
	}
	for _, n := range c.Notes {
		ids = append(ids, n.AuthorID, n.Current().AuthorID)
	}
	for _, a := range c.Attachments {
		ids = append(ids, a.UploadedBy)
	}
	if v.Names, err = s.svc.UserNames(r.Context(), ids); err != nil {
		return nil, err
	}
	for _, t := range service.Trends(c.Measures) {
		v.Trends = append(v.Trends, newTrendView(t))
	}
	return v, nil
}

// trendView is one instrument's scores with a sparkline.
type trendView struct {
	service.Trend
	Latest confidant.Measure
	Max    int
	Spark  sparkline
	Change string // "down 6 since 3 Jan 2026" style text without the date
}

func newTrendView(t service.Trend) trendView {
	tv := trendView{Trend: t, Latest: t.Points[len(t.Points)-1], Max: t.Instrument.MaxScore()}
	tv.Spark = newSparkline(t)
	switch {
	case len(t.Points) < 2:
		tv.Change = "first administration"
	case t.Change < 0:
		tv.Change = fmt.Sprintf("down %d since the first", -t.Change)
	case t.Change > 0:
		tv.Change = fmt.Sprintf("up %d since the first", t.Change)
	default:
		tv.Change = "unchanged since the first"
	}
	return tv
}

// sparkline is a small chart drawn as inline SVG with presentation
// attributes only (the CSP forbids style attributes).
type sparkline struct {
	W, H   int
	Points string // polyline points
	Dots   []sparkDot
	Bands  []sparkBand
	Label  string // the accessible description
}

type sparkDot struct {
	X, Y   float64
	Title  string
	Latest bool
}

type sparkBand struct {
	Y, H float64
	Fill string
}

// severity band boundaries (lower bounds) and their tints, mild to severe.
var bandTints = []string{"#edf4ef", "#f3f3e4", "#f6efdf", "#f6e8df", "#f5e1e1"}

func newSparkline(t service.Trend) sparkline {
	const w, h, padX, padY = 280, 72, 7.0, 7.0
	top := float64(t.Instrument.MaxScore())
	if top == 0 {
		top = 1
	}
	y := func(score int) float64 { return padY + (h-2*padY)*(1-float64(score)/top) }
	sp := sparkline{W: w, H: h}

	lows := []int{0, 5, 10, 15}
	if t.Instrument == confidant.PHQ9 {
		lows = append(lows, 20)
	}
	for i, lo := range lows {
		hi := int(top) + 1
		if i+1 < len(lows) {
			hi = lows[i+1]
		}
		half := (h - 2*padY) / top / 2
		y0, y1 := clamp(y(hi-1)-half, 0, h), clamp(y(lo)+half, 0, h)
		tint := bandTints[i]
		if t.Instrument == confidant.GAD7 && i == 3 {
			tint = bandTints[4]
		}
		sp.Bands = append(sp.Bands, sparkBand{Y: round1(y0), H: round1(y1 - y0), Fill: tint})
	}

	n := len(t.Points)
	var pts []string
	var scores []string
	for i, m := range t.Points {
		x := float64(w) / 2
		if n > 1 {
			x = padX + (float64(w)-2*padX)*float64(i)/float64(n-1)
		}
		d := sparkDot{X: round1(x), Y: round1(y(m.Score)), Title: fmt.Sprintf("%d (%s)", m.Score, m.Severity), Latest: i == n-1}
		sp.Dots = append(sp.Dots, d)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", d.X, d.Y))
		scores = append(scores, fmt.Sprint(m.Score))
	}
	if n > 1 {
		sp.Points = strings.Join(pts, " ")
	}
	sp.Label = fmt.Sprintf("%s scores, oldest to newest: %s (of %d).", t.Instrument.Label(), strings.Join(scores, ", "), int(top))
	return sp
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
