package demo

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/icd10"
)

const day = 24 * time.Hour

// patient generates patient i and everything recorded about them. Patients
// are generated in order; the identity codes already handed out are the only
// state shared between them.
func (g *generator) patient(i int) patientRecords {
	h := g.patientHead(i)
	rng, ti, female, given, family, birth, code := h.rng, h.ti, h.female, h.given, h.family, h.birth, h.code
	g.startIDs(i)
	demoPatient := i == 0
	demoActive := i < DemoTherapistPatients
	demoEnded := !demoActive && i < DemoTherapistPatients+2
	th := g.therapists[ti]
	clinic := g.clinics[th.clinic]
	manager := g.managers[g.managerOf[th.clinic]]

	// Care: most started during the note period, some before it.
	var from time.Time
	switch {
	case demoPatient:
		from = g.windowStart.Add(-21 * day)
	case demoEnded:
		from = g.windowStart.Add(time.Duration(rng.IntN(30)) * day)
	case rng.IntN(5) == 0:
		from = g.windowStart.Add(-time.Duration(1+rng.IntN(300)) * day)
	default:
		span := int(g.now.Sub(g.windowStart)/day) - 10
		from = g.windowStart.Add(time.Duration(rng.IntN(max(span, 1))) * day)
	}
	from = from.Truncate(day).Add(7 * time.Hour)
	if !from.Before(g.now) {
		from = g.now.Add(-time.Hour)
	}
	var to time.Time
	if latest := g.now.Add(-day); demoEnded || (!demoActive && rng.IntN(10) == 0) {
		if earliest := from.Add(28 * day); earliest.Before(latest) {
			to = earliest.Add(time.Duration(rng.Int64N(int64(latest.Sub(earliest))))).Truncate(time.Hour)
		}
	}
	var planned []time.Time // sessions planned up front (a fixed number of notes)
	if g.notesPer > 0 {
		from, to, planned = g.plannedSessions(rng, demoActive, demoEnded)
	}
	ended := !to.IsZero()

	p := confidant.Patient{
		ID: g.newID(), ClinicID: clinic.ID, GivenName: given, FamilyName: family,
		IdentityCode: code, BirthDate: birth,
		Phone:     fmt.Sprintf("+358 %s %03d %04d", pick(rng, []string{"40", "44", "45", "50"}), rng.IntN(1000), rng.IntN(10000)),
		Email:     g.email(rng, given, family),
		Address:   g.address(rng, th.clinic),
		CreatedAt: from.Add(-time.Duration(rng.IntN(10*24)) * time.Hour),
	}
	r := patientRecords{patient: p, newID: g.newID}
	if demoPatient {
		r.user = &confidant.User{
			// No patient's name in the accounts table, which is not sealed.
			ID: g.newID(), Username: PatientUsername, DisplayName: "Patient", Role: confidant.RolePatient,
			PatientID: p.ID, PasswordHash: g.hashes[confidant.RolePatient], CreatedAt: from.Add(day),
		}
	}
	care := confidant.CareRelationship{
		ID: g.newID(), PatientID: p.ID, TherapistID: th.user.ID, ClinicID: clinic.ID,
		From: from, To: to, CreatedBy: manager.ID, CreatedAt: from,
	}
	if ended {
		care.EndedBy = manager.ID
	}
	r.care = append(r.care, care)

	// About 5% also see a second therapist of the same clinic (never the
	// demo therapist, whose patient count stays exact).
	var second *therapist
	var secondFrom time.Time
	if !demoPatient && rng.IntN(20) == 0 {
		var others []int
		for _, t := range g.byClinic[th.clinic] {
			if t != ti && t != 0 {
				others = append(others, t)
			}
		}
		secondFrom = from.Add(time.Duration(14+rng.IntN(46)) * day)
		if len(others) > 0 && secondFrom.Before(g.now.Add(-7*day)) && (!ended || secondFrom.Before(to)) {
			t := g.therapists[pick(rng, others)]
			second = &t
			r.care = append(r.care, confidant.CareRelationship{
				ID: g.newID(), PatientID: p.ID, TherapistID: t.user.ID, ClinicID: clinic.ID,
				From: secondFrom, To: to, CreatedBy: manager.ID, CreatedAt: secondFrom, EndedBy: care.EndedBy,
			})
		}
	}

	// Diagnoses decide the theme of the notes and the measures.
	primary := weighted(rng, primaryDiagnoses)
	if demoPatient {
		primary = diagnosisChoice{code: "F32.1", theme: themeDepression}
	}
	codes := []string{primary.code}
	if rng.IntN(10) < 3 {
		for range 5 {
			if s := weighted(rng, secondaryDiagnoses); s.code[:3] != primary.code[:3] {
				codes = append(codes, s.code)
				break
			}
		}
	}

	sessions := planned
	if g.notesPer == 0 {
		sessions = g.sessions(rng, from, to)
	}
	offset := 0
	if from.Before(g.windowStart) {
		offset = int(g.windowStart.Sub(from) / (8 * day))
	}
	intake := offset == 0 && len(sessions) > 0
	recordedAt := from.Add(7 * day)
	if intake {
		recordedAt = sessions[0].Add(time.Hour)
	}
	recordedAt = g.past(recordedAt)
	for k, c := range codes {
		ic, ok := icd10.Lookup(c)
		if !ok {
			panic("demo: unknown ICD-10 code " + c) // the lists above are checked by the tests
		}
		status := confidant.DiagnosisActive
		if ended && rng.IntN(10) < 6 {
			status = confidant.DiagnosisResolved
		}
		r.diagnoses = append(r.diagnoses, confidant.Diagnosis{
			ID: g.newID(), PatientID: p.ID, Code: ic.Code, Title: ic.Title,
			Note: pick(rng, diagnosisNotes), Status: status, RecordedBy: th.user.ID,
			RecordedAt: recordedAt.Add(time.Duration(k) * time.Minute),
		})
	}

	w := &writer{rng: rng, given: given, female: female, theme: primary.theme, minLen: g.noteMin, maxLen: g.noteMax}

	// Treatment plan after the first sessions; sometimes revised later.
	planAt := from.Add(14 * day)
	if !from.Before(g.windowStart) {
		switch {
		case len(sessions) > 1:
			planAt = sessions[1].Add(2 * time.Hour)
		case len(sessions) == 1:
			planAt = sessions[0].Add(2 * time.Hour)
		default:
			planAt = from.Add(day)
		}
	}
	planAt = g.past(planAt)
	goals, ivs := w.plan(false)
	r.plans = append(r.plans, confidant.TreatmentPlan{
		ID: g.newID(), PatientID: p.ID, Goals: goals, Interventions: ivs,
		ReviewOn: planAt.AddDate(0, 3, 0).Truncate(day), AuthorID: th.user.ID, CreatedAt: planAt,
	})
	if rev := planAt.AddDate(0, 3, 0); rev.Before(g.now) && (!ended || rev.Before(to)) && rng.IntN(4) == 0 {
		goals, ivs := w.plan(true)
		r.plans = append(r.plans, confidant.TreatmentPlan{
			ID: g.newID(), PatientID: p.ID, Goals: goals, Interventions: ivs,
			ReviewOn: rev.AddDate(0, 3, 0).Truncate(day), AuthorID: th.user.ID, CreatedAt: rev,
		})
	}

	// Outcome measures: a baseline at the first session, then every three to
	// five weeks, improving for most patients.
	phqRange, gadRange := primary.theme.baseline()
	phqBase := float64(phqRange[0] + rng.IntN(phqRange[1]-phqRange[0]+1))
	gadBase := float64(gadRange[0] + rng.IntN(gadRange[1]-gadRange[0]+1))
	var response float64 // fraction of the baseline gone after 20 weeks
	switch x := rng.IntN(10); {
	case x < 7:
		response = 0.35 + 0.4*rng.Float64()
	case x < 9:
		response = 0.1 + 0.25*rng.Float64()
	default:
		response = -0.05 + 0.15*rng.Float64()
	}
	expected := func(base float64, at time.Time) float64 {
		progress := math.Min(1, at.Sub(from).Hours()/24/7/20)
		return base * (1 - response*progress)
	}

	// Release to the patient: the demo patient gets most signed notes,
	// about a third of the others some, the rest none (no portal account).
	var releaseP float64
	switch {
	case demoPatient:
		releaseP = 0.7
	case rng.IntN(3) == 0:
		releaseP = 0.4
	}

	var lastMeasure time.Time
	measureGap := time.Duration(21+rng.IntN(15)) * day
	processLeft := 0
	if rng.IntN(100) < 15 {
		processLeft = 1 + rng.IntN(2)
	}
	released := 0
	for k, s := range sessions {
		author := th
		if second != nil && !s.Before(secondFrom) && rng.IntN(10) < 3 {
			author = *second
		}
		in := noteInput{session: offset + k + 1, intake: intake && k == 0, ending: ended && k == len(sessions)-1}
		if lastMeasure.IsZero() || s.Sub(lastMeasure) >= measureGap {
			lastMeasure = s
			phq := r.measure(rng, confidant.PHQ9, expected(phqBase, s), s.Add(5*time.Minute), author.user.ID)
			gad := r.measure(rng, confidant.GAD7, expected(gadBase, s), s.Add(6*time.Minute), author.user.ID)
			in.item9 = phq.Answers[len(phq.Answers)-1] > 0
			in.measures = fmt.Sprintf("PHQ-9 %d (%s) and GAD-7 %d (%s) completed at the start of the session.",
				phq.Score, phq.Severity, gad.Score, gad.Severity)
		}
		w.mood = min(9, max(2, 9-int(math.Round(expected(phqBase, s)/3))+rng.IntN(3)-1))
		w.template = author.template
		if rng.IntN(7) == 0 {
			w.template = pick(rng, confidant.Templates)
		}
		body := w.note(in)

		created := s.Add(50 * time.Minute)
		signedAt := created.Add(10*time.Minute + time.Duration(rng.IntN(30*60))*time.Minute)
		v := confidant.NoteVersion{
			Version: 1, Template: w.template, Body: body, Status: confidant.NoteSigned,
			AuthorID: author.user.ID, CreatedAt: created, UpdatedAt: signedAt,
			SignedAt: signedAt, SignedBy: author.user.ID,
		}
		last := k == len(sessions)-1
		if !signedAt.Before(g.now) || (last && !ended && g.now.Sub(s) < 4*day && rng.IntN(3) == 0) {
			v.Status, v.SignedAt, v.SignedBy, v.UpdatedAt = confidant.NoteDraft, time.Time{}, "", created
		}
		n := confidant.Note{
			ID: g.newID(), PatientID: p.ID, AuthorID: author.user.ID, SessionAt: s,
			CreatedAt: created, Versions: []confidant.NoteVersion{v},
		}
		lastChange := signedAt
		if v.Status == confidant.NoteSigned && rng.IntN(100) < 4 {
			at := signedAt.Add(time.Duration(1+rng.IntN(10)) * day)
			if at.Before(g.now) {
				b, reason := w.amend(body)
				n.Versions = append(n.Versions, confidant.NoteVersion{
					Version: 2, Template: v.Template, Body: b, Status: confidant.NoteSigned,
					AuthorID: author.user.ID, CreatedAt: at, UpdatedAt: at, SignedAt: at,
					SignedBy: author.user.ID, Reason: reason,
				})
				lastChange = at
			}
		}
		if v.Status == confidant.NoteSigned && rng.Float64() < releaseP {
			at := lastChange.Add(time.Hour + time.Duration(rng.IntN(96))*time.Hour)
			if at.Before(g.now) {
				n.ReleasedAt, n.ReleasedBy = at, author.user.ID
				released++
			}
		}
		r.notes = append(r.notes, n)

		if processLeft > 0 && rng.IntN(max(1, len(sessions)/2)) == 0 {
			if at := s.Add(2 * time.Hour); at.Before(g.now) {
				r.process = append(r.process, confidant.ProcessNote{
					ID: g.newID(), PatientID: p.ID, AuthorID: author.user.ID,
					Body: w.processNote(), CreatedAt: at,
				})
				processLeft--
			}
		}
	}
	// The demo patient must have something to read.
	for k := 0; demoPatient && released < 5 && k < len(r.notes); k++ {
		n := &r.notes[k]
		if !n.Released() && n.Status() == confidant.NoteSigned {
			n.ReleasedAt, n.ReleasedBy = n.Current().SignedAt.Add(time.Hour), n.AuthorID
			released++
		}
	}
	r.endCareAfterWork(g.now)
	return r
}

// patientHead is the start of patient i: the random stream after the
// choices that decide the therapist and identity, which are the only state
// shared between patients (identity codes are unique). Replaying the heads
// of patients already written is how a resumed run gets the same codes.
type patientHead struct {
	rng           *mrand.Rand
	ti            int
	female        bool
	given, family string
	birth         time.Time
	code          string
}

func (g *generator) patientHead(i int) patientHead {
	rng := mrand.New(mrand.NewPCG(g.opt.Seed, patientStream+uint64(i)))
	// The demo therapist's patients come first: DemoTherapistPatients in
	// active care, then two whose care has ended.
	demoActive := i < DemoTherapistPatients
	demoEnded := !demoActive && i < DemoTherapistPatients+2
	ti := 0
	if !demoActive && !demoEnded && len(g.therapists) > 1 {
		ti = 1 + rng.IntN(len(g.therapists)-1)
	}
	female := rng.IntN(100) < 62
	given := pick(rng, maleNames)
	if female {
		given = pick(rng, femaleNames)
	}
	family := pick(rng, familyNames)
	// Not the family name of the patient's own therapist: the detector
	// raises a high alert (staff_close) when staff open the records of a
	// namesake, which the demo's normal traffic must not do.
	if len(g.therapists) > 0 {
		tf := strings.Fields(g.therapists[ti].user.DisplayName)
		for tries := 0; tries < 20 && len(tf) > 0 && family == tf[len(tf)-1]; tries++ {
			family = pick(rng, familyNames)
		}
	}
	birth, code := g.identity(rng, female)
	return patientHead{rng: rng, ti: ti, female: female, given: given, family: family, birth: birth, code: code}
}

// measure records one administration with answers adding up to about
// target, and returns it.
func (r *patientRecords) measure(rng *mrand.Rand, in confidant.Instrument, target float64, at time.Time, by string) confidant.Measure {
	n := len(in.Items())
	total := int(math.Round(target + rng.NormFloat64()*1.5))
	total = min(max(total, 0), in.MaxScore())
	answers := make([]int, n)
	// PHQ-9 item 9 (thoughts of self-harm) stays at 0 except for an
	// occasional "several days" at high scores.
	free := n
	if in == confidant.PHQ9 {
		free = n - 1
		if total >= 15 && rng.IntN(5) == 0 {
			answers[n-1] = 1
			total--
		}
		total = min(total, 3*free)
	}
	for sum := 0; sum < total; {
		k := rng.IntN(free)
		if answers[k] < 3 {
			answers[k]++
			sum++
		}
	}
	score, severity, err := in.Score(answers)
	if err != nil {
		panic(err) // answers are in range by construction
	}
	m := confidant.Measure{
		ID: r.newID(), PatientID: r.patient.ID, Instrument: in, Answers: answers,
		Score: score, Severity: severity, RecordedBy: by, TakenAt: at,
	}
	r.measures = append(r.measures, m)
	return m
}

// sessions returns the session times between the start of the note period
// (or of care) and the end of care (or now): weekly or every other week on
// working days, with occasional missed weeks.
func (g *generator) sessions(rng *mrand.Rand, from, to time.Time) []time.Time {
	start := from
	if start.Before(g.windowStart) {
		start = g.windowStart
	}
	end := g.now
	if !to.IsZero() && to.Before(end) {
		end = to
	}
	interval := 7
	if rng.IntN(5) == 0 {
		interval = 14
	}
	// UTC 06:00-14:30 is 08:00-17:30 in Finland in winter.
	clock := time.Duration(6*60+30*rng.IntN(18)) * time.Minute
	t := workday(start.Truncate(day).Add(time.Duration(rng.IntN(5)) * day)).Add(clock)
	for t.Before(start) {
		t = workday(t.Add(day))
	}
	var out []time.Time
	for t.Add(time.Hour).Before(end) {
		if rng.IntN(10) > 0 {
			out = append(out, t)
		}
		t = workday(t.Add(time.Duration(interval+rng.IntN(3)-1) * day))
	}
	return out
}

// workday moves a weekend time to the following Monday.
func workday(t time.Time) time.Time {
	switch t.Weekday() {
	case time.Saturday:
		return t.Add(2 * day)
	case time.Sunday:
		return t.Add(day)
	}
	return t
}

// past returns t, or a minute before now if t is not in the past.
func (g *generator) past(t time.Time) time.Time {
	if t.Before(g.now) {
		return t
	}
	return g.now.Add(-time.Minute)
}

// identity returns a birth date between 1950 and 2006 and an unused identity
// code for it with an individual number in 900-999, odd for men and even for
// women as in real codes.
func (g *generator) identity(rng *mrand.Rand, female bool) (time.Time, string) {
	for {
		var year int
		if rng.IntN(10) < 7 {
			year = 1980 + rng.IntN(27)
		} else {
			year = 1950 + rng.IntN(30)
		}
		birth := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(365))
		for range 8 {
			ind := 900 + 2*rng.IntN(50)
			if !female {
				ind++
			}
			code, err := confidant.MakeIdentityCode(birth, ind)
			if err != nil {
				panic(err) // year and number are in range by construction
			}
			if !g.codes[code] {
				g.codes[code] = true
				return birth, code
			}
		}
	}
}

func (g *generator) email(rng *mrand.Rand, given, family string) string {
	local := fold(given) + "." + fold(family)
	if rng.IntN(3) == 0 {
		local += fmt.Sprint(rng.IntN(100))
	}
	return local + "@example.invalid"
}

func (g *generator) address(rng *mrand.Rand, clinic int) string {
	c := g.clinicCity[clinic]
	if rng.IntN(10) == 0 {
		c = g.clinicCity[rng.IntN(len(g.clinicCity))]
	}
	s := fmt.Sprintf("%s %d", pick(rng, streets), 1+rng.IntN(120))
	if rng.IntN(2) == 0 {
		s += fmt.Sprintf(" %c %d", 'A'+rune(rng.IntN(4)), 1+rng.IntN(40))
	}
	return fmt.Sprintf("%s, %s%d0 %s", s, c.postal, 10+rng.IntN(90), c.name)
}

func weighted(rng *mrand.Rand, xs []diagnosisChoice) diagnosisChoice {
	total := 0
	for _, x := range xs {
		total += x.weight
	}
	r := rng.IntN(total)
	for _, x := range xs {
		if r < x.weight {
			return x
		}
		r -= x.weight
	}
	return xs[len(xs)-1]
}

// endCareAfterWork moves the end of an ended care relationship past the
// last record its therapist wrote (signed, amended, released) for the
// patient: the service lets only a therapist in care write, and the
// detector raises a high alert (no_care) for any other access, which the
// demo's normal traffic must not do.
func (r *patientRecords) endCareAfterWork(now time.Time) {
	last := map[string]time.Time{}
	see := func(who string, at time.Time) {
		if at.After(last[who]) {
			last[who] = at
		}
	}
	for _, n := range r.notes {
		see(n.AuthorID, n.CreatedAt)
		see(n.ReleasedBy, n.ReleasedAt)
		for _, v := range n.Versions {
			see(v.AuthorID, v.CreatedAt)
			see(v.SignedBy, v.SignedAt)
		}
	}
	for _, d := range r.diagnoses {
		see(d.RecordedBy, d.RecordedAt)
	}
	for _, p := range r.plans {
		see(p.AuthorID, p.CreatedAt)
	}
	for _, m := range r.measures {
		see(m.RecordedBy, m.TakenAt)
	}
	for _, p := range r.process {
		see(p.AuthorID, p.CreatedAt)
	}
	for i, c := range r.care {
		if l := last[c.TherapistID]; !c.To.IsZero() && !l.Before(c.To) {
			to := l.Add(time.Hour)
			if to.After(now) {
				to = now
			}
			r.care[i].To = to
		}
	}
}
