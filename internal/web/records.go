package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/icd10"
	"github.com/confidanthealth/confidant/internal/service"
)

// patientCrumbs are the breadcrumbs of a page under a patient's chart.
func patientCrumbs(p confidant.Patient) []crumb {
	return []crumb{crumbPatients, {p.Name(), "/patients/" + p.ID}}
}

// patientForTherapist loads the patient of a therapist's form page. Other
// roles are refused before anything is loaded: the service would refuse
// their submission anyway, and the form is no place for them.
func (s *server) patientForTherapist(r *http.Request, id string) (confidant.Patient, error) {
	a, err := confidant.ActorFrom(r.Context())
	if err != nil {
		return confidant.Patient{}, err
	}
	if a.Role != confidant.RoleTherapist {
		return confidant.Patient{}, confidant.ErrPermission
	}
	return s.svc.Patient(r.Context(), id)
}

// Diagnoses.

type diagnosisView struct {
	page
	Patient  confidant.Patient
	Query    string
	Searched bool
	Results  []icd10.Code
	Code     string
	Note     string
}

const icdResults = 40

func (s *server) diagnosisView(r *http.Request) (*diagnosisView, error) {
	p, err := s.patientForTherapist(r, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	v := &diagnosisView{page: s.page(r, "Add a diagnosis", patientCrumbs(p)...), Patient: p}
	v.Section = "patients"
	return v, nil
}

// newDiagnosisForm is the diagnosis form with a code search helper: a GET
// form (?q=) whose results become choices in the POST form. The search is
// about the code list, not the patient; the choice itself is POSTed.
func (s *server) newDiagnosisForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.diagnosisView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Query = strings.TrimSpace(r.URL.Query().Get("q"))
	if q := []rune(v.Query); len(q) > 100 {
		v.Query = string(q[:100])
	}
	if v.Query != "" {
		v.Searched = true
		v.Results = icd10.Search(v.Query, icdResults)
	}
	s.render(w, r, http.StatusOK, "diagnosis", v)
}

func (s *server) addDiagnosis(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.diagnosisView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Code, v.Note = r.PostForm.Get("code"), r.PostForm.Get("note")
	if _, err := s.svc.AddDiagnosis(r.Context(), v.Patient.ID, v.Code, v.Note); err != nil {
		s.formFail(w, r, err, "diagnosis", v)
		return
	}
	redirect(w, r, "/patients/"+v.Patient.ID, "diagnosis-added")
}

// setDiagnosisStatus resolves or reactivates a diagnosis.
func (s *server) setDiagnosisStatus(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	d, err := s.svc.SetDiagnosisStatus(r.Context(), r.PathValue("id"), confidant.DiagnosisStatus(r.PostForm.Get("status")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/patients/"+d.PatientID, "diagnosis-status")
}

// Treatment plan.

type planView struct {
	page
	Patient       confidant.Patient
	Plans         []confidant.TreatmentPlan // newest first
	Names         map[string]string
	Goals         string
	Interventions string
	ReviewOn      string
}

func (s *server) planView(r *http.Request) (*planView, error) {
	c, err := s.svc.Chart(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range c.Plans {
		ids = append(ids, p.AuthorID)
	}
	names, err := s.svc.UserNames(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	v := &planView{page: s.page(r, "Treatment plan", patientCrumbs(c.Patient)...), Patient: c.Patient, Plans: c.Plans, Names: names}
	v.Section = "patients"
	if len(c.Plans) > 0 {
		cur := c.Plans[0]
		v.Goals, v.Interventions = cur.Goals, cur.Interventions
		if !cur.ReviewOn.IsZero() {
			v.ReviewOn = cur.ReviewOn.In(s.loc).Format("2006-01-02")
		}
	}
	return v, nil
}

func (s *server) planForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.planView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "plan", v)
}

func (s *server) savePlan(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.planView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	v.Goals, v.Interventions, v.ReviewOn = f.Get("goals"), f.Get("interventions"), f.Get("review_on")
	review, err := s.parseDate(v.ReviewOn, "The review date")
	if err == nil {
		_, err = s.svc.SavePlan(r.Context(), v.Patient.ID, service.PlanInput{Goals: v.Goals, Interventions: v.Interventions, ReviewOn: review})
	}
	if err != nil {
		s.formFail(w, r, err, "plan", v)
		return
	}
	redirect(w, r, "/patients/"+v.Patient.ID, "plan-saved")
}

// Outcome measures.

type measureView struct {
	page
	Patient    confidant.Patient
	Instrument confidant.Instrument
	Items      []measureItem
	Answers    []string // the answer options, scored 0..3
	TakenOn    string
}

type measureItem struct {
	N      int // 1-based
	Text   string
	Answer int // -1: not answered
}

func (s *server) measureView(r *http.Request) (*measureView, error) {
	in := confidant.Instrument(r.PathValue("instrument"))
	if in.Items() == nil {
		return nil, confidant.ErrNotFound
	}
	p, err := s.patientForTherapist(r, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	v := &measureView{page: s.page(r, in.Label(), patientCrumbs(p)...), Patient: p, Instrument: in, Answers: confidant.AnswerLabels}
	v.Section = "patients"
	for i, t := range in.Items() {
		v.Items = append(v.Items, measureItem{N: i + 1, Text: t, Answer: -1})
	}
	return v, nil
}

func (s *server) measureForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.measureView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.TakenOn = s.now().In(s.loc).Format("2006-01-02")
	s.render(w, r, http.StatusOK, "measure", v)
}

func (s *server) recordMeasure(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	v, err := s.measureView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.TakenOn = r.PostForm.Get("taken_on")
	answers := make([]int, len(v.Items))
	var missing []string
	for i := range v.Items {
		a, err := strconv.Atoi(r.PostForm.Get(fmt.Sprintf("q%d", i+1)))
		if err != nil || a < 0 || a > 3 {
			missing = append(missing, strconv.Itoa(i+1))
			continue
		}
		answers[i], v.Items[i].Answer = a, a
	}
	if len(missing) > 0 {
		err = invalid("missing_answer", "Every item needs an answer. Missing: item "+strings.Join(missing, ", ")+".")
	}
	// Today means now; an earlier date means midday of that date.
	taken := s.now()
	if err == nil {
		var day time.Time
		day, err = s.parseDate(v.TakenOn, "The date")
		if err == nil && !day.IsZero() && day.Format(time.DateOnly) != taken.In(s.loc).Format(time.DateOnly) {
			taken = day.Add(12 * time.Hour)
		}
	}
	if err == nil {
		_, err = s.svc.RecordMeasure(r.Context(), v.Patient.ID, v.Instrument, answers, taken)
	}
	if err != nil {
		s.formFail(w, r, err, "measure", v)
		return
	}
	redirect(w, r, "/patients/"+v.Patient.ID, "measure-recorded")
}

// Private process notes.

func (s *server) createProcessNote(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id, body := r.PathValue("id"), r.PostForm.Get("body")
	if _, err := s.svc.CreateProcessNote(r.Context(), id, body); err != nil {
		s.chartFail(w, r, err, func(v *chartView, msg string) { v.ProcessBody, v.ProcessError = body, msg })
		return
	}
	redirect(w, r, "/patients/"+id, "process-note")
}
