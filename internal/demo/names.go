package demo

import "github.com/confidanthealth/confidant/internal/synth"

// Word lists for synthetic people and places. Common Finnish given names
// across generations and common Finnish family names; cities with the first
// two digits of their postcodes.

var (
	femaleNames = synth.FemaleNames
	maleNames   = synth.MaleNames
	familyNames = synth.FamilyNames
	streets     = synth.Streets
)

// city is a clinic location: its name, the first two digits of its
// postcodes and a rough weight for how many therapists work there.
type city struct {
	name   string
	postal string
	weight int
}

var cities = []city{
	{"Helsinki", "00", 5}, {"Espoo", "02", 3}, {"Tampere", "33", 3}, {"Vantaa", "01", 3},
	{"Oulu", "90", 2}, {"Turku", "20", 2}, {"Jyväskylä", "40", 2}, {"Lahti", "15", 2},
	{"Kuopio", "70", 2}, {"Pori", "28", 1}, {"Kouvola", "45", 1}, {"Joensuu", "80", 1},
	{"Lappeenranta", "53", 1}, {"Hämeenlinna", "13", 1}, {"Vaasa", "65", 1}, {"Seinäjoki", "60", 1},
	{"Rovaniemi", "96", 1}, {"Mikkeli", "50", 1}, {"Kotka", "48", 1}, {"Salo", "24", 1},
	{"Porvoo", "06", 1}, {"Kokkola", "67", 1}, {"Hyvinkää", "05", 1}, {"Lohja", "08", 1},
	{"Järvenpää", "04", 1}, {"Rauma", "26", 1}, {"Kajaani", "87", 1}, {"Savonlinna", "57", 1},
	{"Nokia", "37", 1}, {"Kerava", "04", 1},
}

// fold turns a name into the ASCII letters of a username (synth.Fold).
func fold(s string) string { return synth.Fold(s) }
