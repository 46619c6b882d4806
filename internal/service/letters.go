package service

import (
	"strings"

	confidant "github.com/confidanthealth/confidant"
)

// Breach notification letters to patients (GDPR Art. 34): plain language,
// in Finnish, Swedish and English; what happened, which kinds of records,
// when, what was done, what the patient can do, and whom to contact. They
// name no other patient and hold no clinical content.

// kindLabels names the record kinds of a scope in each language.
var kindLabels = map[string][3]string{
	"chart":              {"potilaskertomus (yleisnäkymä)", "journal (översikt)", "your chart (overview)"},
	"notes":              {"käyntimuistiinpanot", "besöksanteckningar", "session notes"},
	"process_notes":      {"terapeutin prosessimuistiinpanot", "terapeutens processanteckningar", "the therapist's process notes"},
	"diagnoses":          {"diagnoosit", "diagnoser", "diagnoses"},
	"treatment_plans":    {"hoitosuunnitelmat", "vårdplaner", "treatment plans"},
	"measures":           {"oirekyselyjen tulokset", "resultat av symtomformulär", "questionnaire results"},
	"attachments":        {"liitteet", "bilagor", "attachments"},
	"demographics":       {"henkilötiedot (nimi, henkilötunnus, yhteystiedot)", "personuppgifter (namn, personbeteckning, kontaktuppgifter)", "personal details (name, identity code, contact details)"},
	"released_notes":     {"sinulle luovutetut muistiinpanot", "anteckningar som lämnats ut till dig", "notes released to you"},
	"care_relationships": {"hoitosuhteen tiedot", "uppgifter om vårdrelationen", "care relationship details"},
	"other":              {"muita tietoja", "andra uppgifter", "other information"},
}

func kinds(i confidant.Incident, lang int) string {
	var out []string
	for _, k := range i.Scope.RecordKinds {
		l, ok := kindLabels[k]
		if !ok {
			l = kindLabels["other"]
		}
		out = append(out, "- "+l[lang])
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, "\n")
}

const letterDate = "2.1.2006"

// LetterTexts writes the letter of incident i in the three languages.
// org is the controller's name; contact the data protection officer's.
func LetterTexts(i confidant.Incident, org, contact string) []confidant.LetterText {
	from, to := i.Scope.From.UTC().Format(letterDate), i.Scope.To.UTC().Format(letterDate)
	measures := i.Notification.Measures
	if measures == "" {
		measures = "-"
	}
	fi := "Hyvä vastaanottaja,\n\n" +
		"Mitä tapahtui: " + org + " havaitsi, että potilastietojärjestelmässämme on käsitelty tietojasi ilman asianmukaista perustetta " +
		"(tietoturvaloukkaus). Kyse on ajanjaksosta " + from + "–" + to + ".\n\n" +
		"Mitä tietoja asia koskee:\n" + kinds(i, 0) + "\n\n" +
		"Mitä olemme tehneet: " + measures + "\n\n" +
		"Mitä voit tehdä: Voit tarkistaa potilasportaalin lokista, kuka tietojasi on käsitellyt. Jos saat epäilyttäviä yhteydenottoja, " +
		"älä kerro henkilötietojasi ja ota yhteyttä meihin. Sinulla on oikeus tehdä valitus tietosuojavaltuutetun toimistolle.\n\n" +
		"Yhteystiedot: tietosuojavastaava, " + contact + "\n"
	sv := "Bästa mottagare,\n\n" +
		"Vad hände: " + org + " har upptäckt att dina uppgifter i vårt journalsystem har behandlats utan behörig grund " +
		"(personuppgiftsincident). Det gäller perioden " + from + "–" + to + ".\n\n" +
		"Vilka uppgifter det gäller:\n" + kinds(i, 1) + "\n\n" +
		"Vad vi har gjort: " + measures + "\n\n" +
		"Vad du kan göra: Du kan i patientportalens logg se vem som har behandlat dina uppgifter. Om du får misstänkta kontakter, " +
		"lämna inte ut dina personuppgifter och kontakta oss. Du har rätt att lämna in klagomål till dataombudsmannens byrå.\n\n" +
		"Kontakt: dataskyddsombudet, " + contact + "\n"
	en := "Dear recipient,\n\n" +
		"What happened: " + org + " found that your information in our records system was accessed without a proper reason " +
		"(a personal data breach). It concerns the period " + from + " to " + to + ".\n\n" +
		"Which kinds of records:\n" + kinds(i, 2) + "\n\n" +
		"What we have done: " + measures + "\n\n" +
		"What you can do: The access log in the patient portal shows who has accessed your records. If you receive suspicious " +
		"messages or calls, do not give out personal details, and contact us. You have the right to complain to the Data " +
		"Protection Ombudsman.\n\n" +
		"Contact: the data protection officer, " + contact + "\n"
	return []confidant.LetterText{
		{Lang: "fi", Subject: "Ilmoitus henkilötietojesi tietoturvaloukkauksesta", Body: fi},
		{Lang: "sv", Subject: "Meddelande om en personuppgiftsincident som gäller dig", Body: sv},
		{Lang: "en", Subject: "Notice of a personal data breach concerning you", Body: en},
	}
}

const letterMailSubject = "Ilmoitus tietoturvaloukkauksesta / Meddelande om personuppgiftsincident / Notice of a personal data breach"

// letterMailText is the e-mail of a letter: the three languages one after
// the other.
func letterMailText(l confidant.IncidentLetter) string {
	var b strings.Builder
	for n, t := range l.Texts {
		if n > 0 {
			b.WriteString("\n----------------------------------------\n\n")
		}
		b.WriteString(t.Subject + "\n\n" + t.Body)
	}
	return b.String()
}
