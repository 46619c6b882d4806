package confidant

// Instrument is a standardised outcome measure.
type Instrument string

// Supported instruments.
const (
	PHQ9 Instrument = "phq9" // Patient Health Questionnaire, depression, 9 items scored 0-3
	GAD7 Instrument = "gad7" // Generalised Anxiety Disorder scale, 7 items scored 0-3
)

// Instruments lists the supported instruments in display order.
var Instruments = []Instrument{PHQ9, GAD7}

// Label is the human name of the instrument.
func (in Instrument) Label() string {
	switch in {
	case PHQ9:
		return "PHQ-9"
	case GAD7:
		return "GAD-7"
	}
	return string(in)
}

// Items returns the item texts of the instrument, or nil if unknown.
func (in Instrument) Items() []string {
	switch in {
	case PHQ9:
		return phq9Items
	case GAD7:
		return gad7Items
	}
	return nil
}

// MaxScore is the highest possible total.
func (in Instrument) MaxScore() int { return 3 * len(in.Items()) }

// AnswerLabels are the four answer options shared by PHQ-9 and GAD-7
// ("over the last two weeks, how often have you been bothered by...").
var AnswerLabels = []string{"Not at all", "Several days", "More than half the days", "Nearly every day"}

var phq9Items = []string{
	"Little interest or pleasure in doing things",
	"Feeling down, depressed, or hopeless",
	"Trouble falling or staying asleep, or sleeping too much",
	"Feeling tired or having little energy",
	"Poor appetite or overeating",
	"Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
	"Trouble concentrating on things, such as reading the newspaper or watching television",
	"Moving or speaking so slowly that other people could have noticed, or the opposite: being so fidgety or restless that you have been moving around a lot more than usual",
	"Thoughts that you would be better off dead, or of hurting yourself in some way",
}

var gad7Items = []string{
	"Feeling nervous, anxious, or on edge",
	"Not being able to stop or control worrying",
	"Worrying too much about different things",
	"Trouble relaxing",
	"Being so restless that it is hard to sit still",
	"Becoming easily annoyed or irritable",
	"Feeling afraid, as if something awful might happen",
}

// Score validates answers for the instrument and returns the total score and
// severity band. Each answer must be 0..3 and every item must be answered.
func (in Instrument) Score(answers []int) (score int, severity string, err error) {
	items := in.Items()
	if items == nil {
		return 0, "", Errorf(KindInvalid, "unknown_instrument", "Unknown outcome measure.")
	}
	if len(answers) != len(items) {
		return 0, "", Errorf(KindInvalid, "invalid_answers", "%s needs an answer to each of its %d items.", in.Label(), len(items))
	}
	for i, a := range answers {
		if a < 0 || a > 3 {
			return 0, "", Errorf(KindInvalid, "invalid_answers", "Answer %d must be between 0 and 3.", i+1)
		}
		score += a
	}
	return score, in.Severity(score), nil
}

// Severity returns the standard severity band for a total score.
//
// PHQ-9: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe,
// 20-27 severe. GAD-7: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
func (in Instrument) Severity(score int) string {
	switch {
	case score < 5:
		return "minimal"
	case score < 10:
		return "mild"
	case score < 15:
		return "moderate"
	case in == PHQ9 && score < 20:
		return "moderately severe"
	default:
		return "severe"
	}
}
