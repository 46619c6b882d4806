package demo

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/confidanthealth/confidant"
)

// The session notes, plans and comments are assembled from the sentence
// pools below. They are synthetic and deliberately unremarkable: plausible
// psychotherapy documentation without graphic content. Placeholders in
// braces are filled per sentence by writer.expand.

// theme is what a patient's treatment is mainly about; it picks the
// sentences, the plan and the starting levels of the outcome measures.
type theme int

const (
	themeDepression theme = iota
	themeAnxiety
	themePanic
	themeSocial
	themeTrauma
	themeStress
	themeOCD
	themeOther
)

// diagnosisChoice is a code the generator may record, with its theme and a
// relative frequency.
type diagnosisChoice struct {
	code   string
	theme  theme
	weight int
}

var primaryDiagnoses = []diagnosisChoice{
	{"F32.0", themeDepression, 8}, {"F32.1", themeDepression, 14}, {"F32.2", themeDepression, 3},
	{"F33.0", themeDepression, 5}, {"F33.1", themeDepression, 10}, {"F34.1", themeDepression, 3},
	{"F41.1", themeAnxiety, 12}, {"F41.2", themeAnxiety, 6}, {"F41.0", themePanic, 6},
	{"F40.0", themePanic, 2}, {"F40.1", themeSocial, 6}, {"F43.1", themeTrauma, 6},
	{"F43.2", themeStress, 10}, {"F43.8", themeStress, 2}, {"F42.2", themeOCD, 3},
	{"F42.0", themeOCD, 1}, {"F51.0", themeOther, 2}, {"F50.2", themeOther, 1},
	{"F60.3", themeOther, 2}, {"F90.0", themeOther, 2},
}

var secondaryDiagnoses = []diagnosisChoice{
	{"F51.0", themeOther, 4}, {"F41.1", themeAnxiety, 3}, {"F32.0", themeDepression, 3},
	{"F40.1", themeSocial, 2}, {"F10.1", themeOther, 1}, {"F90.0", themeOther, 1},
	{"F41.0", themePanic, 2}, {"F45.4", themeOther, 1},
}

// baseline returns the starting PHQ-9 and GAD-7 ranges for a theme.
func (t theme) baseline() (phq, gad [2]int) {
	switch t {
	case themeDepression:
		return [2]int{13, 22}, [2]int{6, 13}
	case themeAnxiety:
		return [2]int{7, 14}, [2]int{11, 19}
	case themePanic:
		return [2]int{5, 12}, [2]int{10, 17}
	case themeSocial:
		return [2]int{6, 13}, [2]int{9, 16}
	case themeTrauma:
		return [2]int{11, 19}, [2]int{11, 18}
	case themeStress:
		return [2]int{8, 15}, [2]int{8, 15}
	case themeOCD:
		return [2]int{7, 14}, [2]int{10, 16}
	}
	return [2]int{6, 14}, [2]int{6, 14}
}

var diagnosisNotes = []string{
	"Diagnosed at the intake assessment on the basis of the clinical interview, PHQ-9 and GAD-7.",
	"Working diagnosis after two assessment sessions; to be reviewed at the first plan review.",
	"Referral diagnosis from occupational health confirmed at assessment.",
	"Symptoms have lasted longer than six months and meet the diagnostic criteria.",
	"Diagnosis discussed with the client, who agreed with the formulation.",
	"Confirmed in a structured interview; earlier episodes reported in the history.",
	"",
}

// Sentence pools. Keys: {C}/{c} the client (name or "the client"), {he} {He}
// {his} {His} {him}, {person}, {activity}, {situation}, {technique},
// {mood}, {sleep}, {n}, {next}, {weekday}, {work}, {protect}.

var openings = []string{
	"Session {n}. {C} arrived on time and engaged well throughout the session.",
	"Session {n}. {C} arrived a few minutes late because of traffic but settled quickly.",
	"Session {n}, held by video at {his} request. The connection was stable and {he} was in a private room.",
	"Session {n}. {C} came directly from work and said {he} had been looking forward to the appointment.",
	"Session {n}. {C} appeared somewhat tired at the start but became more animated as the session went on.",
	"Session {n}. {C} attended as agreed and brought the worksheet from last time.",
	"Session {n}. We started by reviewing the agenda {he} had prepared.",
}

var intakeOpenings = []string{
	"First appointment. Reviewed confidentiality, consent, the limits of confidentiality and the practical arrangements of therapy.",
	"Intake session. {C} was referred by {his} occupational health physician. Went through consent and how records are kept and released.",
	"Initial assessment. {C} sought help on {his} own initiative after a recommendation from {person}.",
}

var checkIns = []string{
	"{C} rated {his} mood this week as {mood}/10.",
	"Mood this week {mood}/10 by {his} own rating; sleep about {sleep} hours a night.",
	"{C} reported sleeping around {sleep} hours a night, with fewer early awakenings than before.",
	"{C} described the past week as uneven: a good start, then a difficult {weekday}.",
	"{C} said the week had been busy at {work}, which left little energy in the evenings.",
	"{C} mentioned that {he} had managed {activity} twice this week.",
	"{C} spent the weekend with {person}, which {he} described as mostly positive.",
	"{C} noticed {he} had been more irritable than usual, especially in the evenings.",
	"{C} reported a quieter week and said {he} had had more time for {activity}.",
	"{C} said {he} had kept the daily activity diary on most days.",
}

var themeSentences = map[theme][]string{
	themeDepression: {
		"Low mood has been present most days, with less pleasure in activities {he} used to enjoy.",
		"{C} described a pattern of staying in bed in the mornings when there is nothing scheduled.",
		"Self-critical thoughts came up when {he} talked about falling behind at {work}.",
		"{C} noticed that days with some structure and a short walk felt noticeably lighter.",
		"Energy remains low in the afternoons; appetite has returned to normal.",
		"{C} said {he} tends to withdraw from friends when {his} mood drops, and then feels more alone.",
		"We explored the thought 'I am a burden to others' and the evidence for and against it.",
		"{C} completed three of the five planned activities and rated mastery and pleasure for each.",
	},
	themeAnxiety: {
		"Worry has centred on {his} health and on finances, typically in the evenings.",
		"{C} recognised the 'what if' chains that start from small uncertainties at {work}.",
		"{C} reported muscle tension in the neck and shoulders and difficulty relaxing.",
		"Used the worry period as agreed on most days, postponing worries to a fixed 20 minutes.",
		"{C} noticed that reassurance seeking from {person} brings short relief but keeps the worry going.",
		"We looked at the balance between productive problem solving and unproductive rumination.",
		"Intolerance of uncertainty came up again in planning an ordinary weekend.",
	},
	themePanic: {
		"{C} had two panic attacks this week, both while {situation}, each lasting about ten minutes.",
		"{C} identified the bodily sensations that usually come first: a racing heart and light-headedness.",
		"Avoidance has narrowed: {he} has stopped {situation} unless someone comes along.",
		"Reviewed the panic cycle and how catastrophic interpretations of sensations maintain it.",
		"{C} tried an interoceptive exercise at home and noticed the sensations passed without harm.",
		"{C} managed {situation} alone for the first time in months, with anxiety peaking at 6/10.",
	},
	themeSocial: {
		"{C} described strong anxiety before {situation} and a long review of the event afterwards.",
		"{C} notices a habit of rehearsing sentences in advance and monitoring {his} own voice.",
		"Safety behaviours identified: avoiding eye contact, keeping comments short, holding a cup.",
		"{C} spoke up once in a team meeting and reported that nobody reacted the way {he} had feared.",
		"Post-event rumination after a family gathering lasted two days.",
		"We planned a behavioural experiment around {situation} with a written prediction.",
	},
	themeTrauma: {
		"{C} reported fewer intrusive memories this week and better concentration at {work}.",
		"Sleep is still disturbed by bad dreams a few nights a week.",
		"{C} notices startle reactions to sudden noises and avoids crowded places.",
		"We continued building the timeline of events at a pace {he} chose; no details were pushed.",
		"{C} used the grounding exercise when reminders came up on the bus and found it helpful.",
		"Stabilisation remains the focus; {he} described feeling safer at home than a month ago.",
	},
	themeStress: {
		"The recent changes at {work} and the reorganisation of {his} team remain the main stressor.",
		"{C} described difficulty switching off in the evenings and checking work e-mail late.",
		"A family change last spring is still affecting the daily routine and sleep.",
		"We mapped current demands and resources; {he} recognised few recovery activities in the week.",
		"{C} has been on sick leave for three weeks and is thinking about a gradual return.",
		"{C} noticed that setting limits on overtime led to a calmer weekend.",
	},
	themeOCD: {
		"Checking the stove and the door lock takes about thirty minutes before leaving home.",
		"{C} has reduced checking to one round before leaving, with anxiety peaking at 7/10 and falling within twenty minutes.",
		"Intrusive thoughts about contamination have been frequent; hand washing has decreased slightly.",
		"We reviewed the exposure hierarchy and agreed the next step together.",
		"{C} noticed that asking {person} for reassurance counts as a compulsion and tried to delay it.",
	},
	themeOther: {
		"{C} reported difficulty falling asleep and lying awake worrying about the next day.",
		"Daily structure has been hard to maintain; {he} tends to postpone tasks until the last moment.",
		"{C} described strong emotional reactions in close relationships and regret afterwards.",
		"We reviewed the sleep diary: bedtimes vary by up to three hours between weekdays and weekends.",
		"{C} tried the planned routine on four days and found mornings easier.",
		"Emotion regulation skills were practised in the session with a recent example from home.",
	},
}

var interventions = map[theme][]string{
	themeDepression: {
		"Continued behavioural activation: planned small, concrete activities for the coming week.",
		"Worked on a thought record about a recent setback and generated a more balanced view.",
		"Reviewed the activity diary and the link between activity and mood.",
	},
	themeAnxiety: {
		"Practised {technique} in the session.",
		"Introduced worry postponement and the difference between hypothetical and practical worries.",
		"Worked on tolerating uncertainty with a small, planned experiment.",
	},
	themePanic: {
		"Psychoeducation about the physiology of anxiety and panic.",
		"Planned graded exposure to {situation}, starting with the easiest step.",
		"Practised {technique} and an interoceptive exercise (breathing through a straw for one minute).",
	},
	themeSocial: {
		"Video feedback exercise: compared {his} self-image with how {he} came across.",
		"Shifted attention outwards during a short role play.",
		"Reviewed the results of last week's behavioural experiment.",
	},
	themeTrauma: {
		"Practised grounding and {technique} to manage arousal.",
		"Psychoeducation about common reactions after distressing events.",
		"Worked on the trauma narrative at a tolerable pace, with a grounding exercise at the end.",
	},
	themeStress: {
		"Worked on prioritising and setting limits at {work}.",
		"Planned recovery activities for each weekday, including {activity}.",
		"Practised {technique} and discussed how to bring it into the working day.",
	},
	themeOCD: {
		"Exposure with response prevention in the session, following the agreed hierarchy.",
		"Reviewed the home exposure practice and the anxiety ratings {he} recorded.",
		"Discussed the role of the obsessive doubt and how compulsions keep it going.",
	},
	themeOther: {
		"Reviewed the sleep diary and agreed a regular rising time, including weekends.",
		"Practised an emotion regulation skill with a recent situation.",
		"Worked on a weekly structure with reminders for the most important tasks.",
	},
}

var generalInterventions = []string{
	"Summarised the session together and checked what {he} found most useful.",
	"Reviewed the goals of the treatment plan and progress towards them.",
	"Discussed values and what a good ordinary week would look like for {him}.",
	"Validated the difficulty of the week and highlighted the steps {he} had taken anyway.",
}

var presentations = []string{
	"Appropriately dressed, good eye contact, speech normal in rate and volume.",
	"Affect somewhat flat at first, brighter towards the end of the session.",
	"Alert and oriented; thought process coherent and goal-directed.",
	"Visibly tense in the first part of the session, more relaxed after the breathing exercise.",
	"Tearful when talking about {person}, but able to continue and reflect.",
	"Calm and reflective; humour present.",
	"Restless at times, looked at the clock occasionally.",
}

var responses = []string{
	"{C} engaged actively and said the exercise made sense to {him}.",
	"{C} found the discussion useful but felt tired afterwards.",
	"{C} was initially sceptical but agreed to try the exercise at home.",
	"{C} recognised the pattern quickly and gave examples of {his} own.",
	"{C} said it felt good to notice progress, even if it is slow.",
}

var progressAssessments = []string{
	"Gradual improvement compared with the start of treatment; motivation remains good.",
	"Progress is uneven but the overall direction is positive.",
	"Symptoms remain at a similar level to the previous weeks; the plan is still appropriate.",
	"Clear gains in daily functioning; {he} is applying the skills independently.",
	"Some setback this week related to stress at {work}; no change to the plan needed.",
	"Working alliance good. {C} is using the sessions well.",
}

var riskStatements = []string{
	"No current thoughts of self-harm or suicide reported; risk assessed as low.",
	"Asked about safety: {he} denied thoughts of harming {him}self. Protective factors include {protect}.",
	"Risk assessment unchanged: low. {C} knows how to reach the crisis line and the emergency services.",
	"No safety concerns raised in this session.",
}

var homeworks = []string{
	"Homework: continue the activity diary and plan two pleasant activities.",
	"Homework: practise {technique} daily for ten minutes.",
	"Homework: a thought record whenever {his} mood drops noticeably.",
	"Homework: try {situation} once before the next session and write down the prediction and the outcome.",
	"Homework: keep the sleep diary and keep the agreed rising time.",
	"Homework: read the leaflet on stress and recovery and mark what felt familiar.",
}

var nextSessions = []string{
	"Next session {next}.",
	"Next appointment {next}, same time.",
	"We agreed to meet {next}.",
	"Next session {next}; {he} will bring the completed worksheet.",
}

var intakeContent = []string{
	"Took a history of the presenting problem, previous episodes and earlier treatment.",
	"Current situation: works at {work}, lives with {person}; no substance use of concern.",
	"{C} described the difficulties beginning about a year ago, after a period of strain at {work}.",
	"Discussed {his} hopes for therapy: to feel more like {him}self and cope better with everyday demands.",
	"Administered PHQ-9 and GAD-7 as a baseline.",
	"Agreed on a first treatment period of about fifteen sessions, with a review after eight.",
}

var endingContent = []string{
	"We reviewed the whole treatment period and the skills {he} wants to keep using.",
	"Made a written relapse prevention plan with early warning signs and first steps.",
	"{C} said {he} feels ready to continue on {his} own, with the option to return if needed.",
	"Compared the current PHQ-9 and GAD-7 with the baseline; both have improved.",
}

var processNotes = []string{
	"Noticed my own urge to reassure during the discussion about {person}; worth watching. Bring to supervision.",
	"Felt stuck in this session. I may be working harder than the client; slow down and ask more.",
	"Strong sense of hopelessness in the room today. Check my own reaction in supervision before the next session.",
	"The client's humour seemed to deflect from difficult topics. Hypothesis only; keep observing.",
	"I was tired today and less attentive in the second half. Keep the schedule lighter on this weekday.",
	"Alliance feels better after last week's rupture and repair. Keep the pace the client sets.",
	"Possible parallel with the client's relationship with {his} parent in how {he} relates to me. Explore carefully later.",
}

var amendReasons = []string{
	"Corrected the date of the next appointment.",
	"Added information the client gave by phone after the session.",
	"Corrected a factual error in the description of the client's work situation.",
	"Clarified the wording of the assessment at the client's request.",
	"Added the outcome measure scores, which were missing from the original note.",
	"Corrected a typing error that changed the meaning of a sentence.",
}

var addenda = []string{
	"Addendum: the client called the day after the session to say that the homework had gone better than expected.",
	"Addendum: the next appointment was moved by one week at the client's request.",
	"Addendum: outcome measures were completed at the end of the session and are recorded separately.",
	"Addendum: clarified with the client that the change at work concerns a new team, not a new employer.",
}

var (
	persons = []string{
		"{his} partner", "{his} mother", "{his} father", "{his} sister", "{his} brother", "a close friend",
		"{his} manager at work", "{his} adult daughter", "{his} son", "a colleague", "{his} flatmate", "{his} grandmother",
	}
	activities = []string{
		"an evening walk", "swimming", "cross-country skiing", "a choir rehearsal", "going to the library",
		"cooking dinner with a friend", "a weekend at the summer cottage", "berry picking", "going to the sauna",
		"a short bike ride", "gardening", "a yoga class", "playing the guitar", "walking the dog", "a board game evening",
	}
	situations = []string{
		"taking the bus at rush hour", "speaking up in a team meeting", "calling the health centre",
		"going to the supermarket alone", "a job interview", "eating in the staff canteen", "taking the metro",
		"waiting in a queue at the pharmacy", "meeting new people at a hobby group", "giving a short presentation",
	}
	techniques = []string{
		"diaphragmatic breathing", "progressive muscle relaxation", "a brief mindfulness exercise",
		"the thought record", "grounding with the five senses", "applied relaxation", "the worry postponement routine",
	}
	workplaces = []string{
		"work", "the hospital ward", "the school", "the warehouse", "the office", "the day care centre",
		"the university", "the shop", "the construction site", "the municipal office", "the IT company", "the bakery",
	}
	protective = []string{
		"{his} children", "a supportive partner", "close friends", "{his} work", "plans for the summer",
		"{his} dog", "a strong wish to get better", "{his} sports team",
	}
	weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
)

// writer builds the texts for one patient.
type writer struct {
	rng      *rand.Rand
	given    string
	female   bool
	theme    theme
	template confidant.NoteTemplate
	mood     int // current self-rated mood, improves over time
	session  int
	used     map[string]bool // sentences already in the current text
	minLen   int             // note length bounds; 0: minNoteLen, maxNoteLen
	maxLen   int
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// expand fills the placeholders of s.
func (w *writer) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(w.value(s[i+1 : i+j]))
		s = s[i+j+1:]
	}
}

func (w *writer) value(key string) string {
	he, his, him := "he", "his", "him"
	if w.female {
		he, his, him = "she", "her", "her"
	}
	switch key {
	case "C":
		if w.rng.IntN(3) == 0 {
			return w.given
		}
		return "The client"
	case "c":
		if w.rng.IntN(3) == 0 {
			return w.given
		}
		return "the client"
	case "he":
		return he
	case "He":
		return upper(he)
	case "his":
		return his
	case "His":
		return upper(his)
	case "him":
		return him
	case "person":
		return w.expand(pick(w.rng, persons))
	case "activity":
		return pick(w.rng, activities)
	case "situation":
		return pick(w.rng, situations)
	case "technique":
		return pick(w.rng, techniques)
	case "work":
		return pick(w.rng, workplaces)
	case "protect":
		return w.expand(pick(w.rng, protective))
	case "weekday":
		return pick(w.rng, weekdays)
	case "mood":
		return strconv.Itoa(w.mood)
	case "sleep":
		return strconv.Itoa(5 + w.rng.IntN(4))
	case "n":
		return strconv.Itoa(w.session)
	case "next":
		return pick(w.rng, []string{"in one week", "next week", "in two weeks", "after the holiday week"})
	}
	return "{" + key + "}" // unknown: left visible, and caught by the tests
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pickN appends up to n expanded sentences from pool that this note does
// not contain yet.
func (w *writer) pickN(dst []string, pool []string, n int) []string {
	for _, i := range w.rng.Perm(len(pool)) {
		if n == 0 {
			break
		}
		if !w.used[pool[i]] {
			w.used[pool[i]] = true
			dst = append(dst, w.expand(pool[i]))
			n--
		}
	}
	return dst
}

// Note length limits, in bytes.
const (
	minNoteLen = 300
	maxNoteLen = 2000
)

// noteInput is what a session note is about.
type noteInput struct {
	session  int  // 1-based number in the care relationship
	intake   bool // first session
	ending   bool // last session of an ended care relationship
	measures string
	item9    bool // PHQ-9 item 9 was answered above 0 today
}

var item9Statements = []string{
	"PHQ-9 item 9 was answered 'several days'. Explored this with {him}: passive thoughts on difficult evenings, no plan or intent. Safety plan reviewed; {he} knows how to reach the crisis line.",
	"{C} marked item 9 of the PHQ-9. Discussed it openly: fleeting thoughts, no intent, strong reasons to live including {protect}. Risk assessed as low; will ask again next session.",
}

// note returns the body of a session note in the writer's template,
// between minNoteLen and maxNoteLen bytes.
func (w *writer) note(in noteInput) string {
	w.session = in.session
	w.used = make(map[string]bool)
	minLen, maxLen := minNoteLen, maxNoteLen
	if w.minLen > 0 {
		minLen, maxLen = w.minLen, w.maxLen
	}
	target := minLen + 100 + w.rng.IntN(900)
	if w.minLen > 0 {
		// Longer notes: mostly 2-5 KiB, some up to the maximum.
		target = minLen + 100 + w.rng.IntN(max(1, (maxLen-minLen)/3))
	}
	if w.rng.IntN(6) == 0 { // a few long notes
		if w.minLen > 0 {
			target += w.rng.IntN(max(1, maxLen-target-200))
		} else {
			target += w.rng.IntN(700)
		}
	}
	var subj, obj, assess, plan []string
	if in.intake {
		subj = w.pickN(subj, intakeOpenings, 1)
		subj = w.pickN(subj, intakeContent, 3)
		subj = w.pickN(subj, themeSentences[w.theme], 2)
	} else {
		subj = w.pickN(subj, openings, 1)
		subj = w.pickN(subj, checkIns, 1+w.rng.IntN(2))
		subj = w.pickN(subj, themeSentences[w.theme], 1+w.rng.IntN(2))
	}
	if in.ending {
		subj = w.pickN(subj, endingContent, 2)
	}
	obj = w.pickN(obj, presentations, 1)
	if !in.intake {
		obj = w.pickN(obj, interventions[w.theme], 1)
	}
	obj = w.pickN(obj, responses, 1)
	if in.measures != "" {
		obj = append(obj, in.measures)
	}
	assess = w.pickN(assess, progressAssessments, 1)
	if in.item9 {
		assess = w.pickN(assess, item9Statements, 1)
	} else {
		assess = w.pickN(assess, riskStatements, 1)
	}
	if !in.ending {
		plan = w.pickN(plan, homeworks, 1)
		plan = w.pickN(plan, nextSessions, 1)
	} else {
		plan = append(plan, "Treatment period completed. The client can contact the clinic again if needed.")
	}
	// Pad with further sentences until the target length: what the client
	// said goes to the subjective part, what was done to the objective.
	limit := 8
	if w.minLen > 0 {
		limit = 400
	}
	for i := 0; w.size(subj, obj, assess, plan) < target && i < limit; i++ {
		if i > 0 && i%16 == 0 && w.minLen > 0 {
			w.used = make(map[string]bool) // long notes may come back to a topic
		}
		switch i % 4 {
		case 0:
			subj = w.pickN(subj, themeSentences[w.theme], 1)
		case 1:
			obj = w.pickN(obj, generalInterventions, 1)
		case 2:
			subj = w.pickN(subj, checkIns, 1)
		case 3:
			obj = w.pickN(obj, interventions[w.theme], 1)
		}
	}
	for w.size(subj, obj, assess, plan) > maxLen && len(subj) > 2 {
		subj = subj[:len(subj)-1]
	}
	body := w.render(subj, obj, assess, plan)
	for len(body) < minLen {
		before := len(subj)
		subj = w.pickN(subj, themeSentences[w.theme], 1)
		if len(subj) == before {
			subj = append(subj, "The session followed the agreed structure.")
		}
		body = w.render(subj, obj, assess, plan)
	}
	return body
}

func (w *writer) size(parts ...[]string) int {
	n := 40 // headings and line breaks
	for _, p := range parts {
		for _, s := range p {
			n += len(s) + 1
		}
	}
	return n
}

func (w *writer) render(subj, obj, assess, plan []string) string {
	j := func(xs []string) string { return strings.Join(xs, " ") }
	switch w.template {
	case confidant.TemplateSOAP:
		return "Subjective:\n" + j(subj) + "\n\nObjective:\n" + j(obj) + "\n\nAssessment:\n" + j(assess) + "\n\nPlan:\n" + j(plan) + "\n"
	case confidant.TemplateDAP:
		return "Data:\n" + j(subj) + " " + j(obj) + "\n\nAssessment:\n" + j(assess) + "\n\nPlan:\n" + j(plan) + "\n"
	}
	return j(subj) + "\n\n" + j(obj) + "\n\n" + j(assess) + " " + j(plan) + "\n"
}

// amend returns an amended body and the reason for the amendment.
func (w *writer) amend(body string) (string, string) {
	add := pick(w.rng, addenda)
	if len(body)+len(add)+2 > max(maxNoteLen, w.maxLen) {
		return body, "Corrected a typing error that changed the meaning of a sentence."
	}
	return strings.TrimRight(body, "\n") + "\n\n" + add + "\n", pick(w.rng, amendReasons)
}

func (w *writer) processNote() string {
	return w.expand(pick(w.rng, processNotes))
}

// plan returns the goals and interventions of a treatment plan.
func (w *writer) plan(revised bool) (goals, interventions string) {
	w.used = make(map[string]bool)
	g := planGoals[w.theme]
	var gs []string
	for i, k := range w.rng.Perm(len(g))[:min(len(g), 2+w.rng.IntN(2))] {
		gs = append(gs, fmt.Sprintf("%d. %s", i+1, w.expand(g[k])))
	}
	gs = append(gs, fmt.Sprintf("%d. %s", len(gs)+1, w.expand(pick(w.rng, generalGoals))))
	iv := []string{pick(w.rng, sessionFormats)}
	iv = w.pickN(iv, planInterventions[w.theme], 2)
	iv = append(iv, "PHQ-9 and GAD-7 about every four weeks to follow progress.")
	if revised {
		iv = append(iv, "Revised at the review: the first goal was partly met; sessions continue with the same focus.")
	}
	return strings.Join(gs, "\n"), strings.Join(iv, "\n")
}

var planGoals = map[theme][]string{
	themeDepression: {
		"Reduce depressive symptoms: PHQ-9 below 10 by the review date.",
		"Re-establish a regular daily rhythm with activity every day.",
		"Resume contact with friends at least once a week.",
		"Return to work gradually, as agreed with occupational health.",
	},
	themeAnxiety: {
		"Reduce worry and tension: GAD-7 below 10 by the review date.",
		"Use the worry postponement routine independently.",
		"Sleep at least seven hours on most nights.",
	},
	themePanic: {
		"Fewer panic attacks and less fear of bodily sensations.",
		"Use public transport alone for daily errands.",
		"Stop avoiding shops and queues.",
	},
	themeSocial: {
		"Take part in team meetings and say something at least once per meeting.",
		"Reduce safety behaviours in social situations.",
		"Join a hobby group of {his} choice.",
	},
	themeTrauma: {
		"Stabilisation: manage arousal and intrusive memories with grounding skills.",
		"Improve sleep and reduce bad dreams.",
		"Reduce avoidance of everyday places and situations.",
	},
	themeStress: {
		"Recover from the stress reaction and regain a sustainable working rhythm.",
		"Plan and keep recovery activities during the working week.",
		"Clarify priorities and limits at work together with {his} manager.",
	},
	themeOCD: {
		"Reduce the time spent on checking to under ten minutes a day.",
		"Complete the exposure hierarchy up to step six.",
		"Stop asking family members for reassurance.",
	},
	themeOther: {
		"Regular sleep rhythm with a fixed rising time.",
		"Better recognition and regulation of strong emotions.",
		"A weekly structure that supports work or studies.",
	},
}

var generalGoals = []string{
	"Understand the factors that maintain the difficulties and how to influence them.",
	"Have a written relapse prevention plan by the end of treatment.",
	"Feel able to cope with everyday demands without daily distress.",
}

var sessionFormats = []string{
	"Weekly individual sessions of 45 minutes.",
	"Individual cognitive behavioural therapy, weekly, 45 minutes.",
	"Individual sessions every week, later every other week.",
	"Short-term psychotherapy, about 15 sessions.",
}

var planInterventions = map[theme][]string{
	themeDepression: {"Behavioural activation and activity scheduling.", "Cognitive restructuring of self-critical thoughts.", "Psychoeducation about depression and recovery."},
	themeAnxiety:    {"Worry postponement and problem solving.", "Applied relaxation.", "Work on intolerance of uncertainty."},
	themePanic:      {"Psychoeducation about panic.", "Interoceptive exposure.", "Graded in-vivo exposure."},
	themeSocial:     {"Behavioural experiments.", "Attention training and dropping safety behaviours.", "Video feedback."},
	themeTrauma:     {"Stabilisation and grounding skills.", "Trauma-focused cognitive behavioural therapy when stable.", "Sleep hygiene."},
	themeStress:     {"Stress and recovery psychoeducation.", "Problem solving and limit setting.", "Relaxation skills."},
	themeOCD:        {"Exposure with response prevention.", "Psychoeducation about the OCD cycle.", "Involving family members in reducing reassurance."},
	themeOther:      {"Sleep restriction and stimulus control.", "Emotion regulation skills.", "Structuring the week."},
}
