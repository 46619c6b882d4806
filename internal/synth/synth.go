// Package synth makes synthetic Finnish people: names, birth dates,
// identity codes in the range never given to a real person's permanent
// code (individual numbers 900-999), phones, e-mail addresses and
// addresses. internal/demo builds its data with it, and honeytokens
// (decoy patients, internal/service) are made with it.
package synth

import (
	"fmt"
	mrand "math/rand/v2"
	"time"

	confidant "github.com/confidanthealth/confidant"
)

// FemaleNames, MaleNames and FamilyNames are common Finnish given names
// across generations and common Finnish family names.
var FemaleNames = []string{
	"Aada", "Aila", "Aino", "Anna", "Anne", "Anneli", "Anni", "Annika", "Annikki", "Anu",
	"Arja", "Aune", "Aurora", "Eeva", "Eevi", "Eija", "Eila", "Elina", "Elisa", "Elli",
	"Ella", "Emilia", "Emma", "Emmi", "Enni", "Hanna", "Hannele", "Heidi", "Heli", "Helena",
	"Helmi", "Henna", "Hilla", "Iida", "Iina", "Inka", "Inkeri", "Irma", "Isla", "Jaana",
	"Jenna", "Jenni", "Johanna", "Jonna", "Julia", "Kaarina", "Kaisa", "Katariina", "Katja", "Kerttu",
	"Kiia", "Kirsi", "Krista", "Kristiina", "Laura", "Leena", "Liisa", "Lilja", "Linnea", "Lotta",
	"Maarit", "Maija", "Mari", "Maria", "Marika", "Marja", "Marjatta", "Merja", "Milla", "Minea",
	"Minna", "Nelli", "Niina", "Noora", "Olivia", "Oona", "Orvokki", "Outi", "Paula", "Pauliina",
	"Pia", "Pihla", "Pirjo", "Päivi", "Raija", "Reetta", "Riikka", "Riitta", "Ritva", "Ronja",
	"Roosa", "Saana", "Salla", "Sanna", "Sara", "Sari", "Satu", "Seija", "Siiri", "Sinikka",
	"Sirpa", "Sofia", "Susanna", "Suvi", "Tanja", "Tarja", "Tellervo", "Terhi", "Terttu", "Tiina",
	"Tuula", "Tuuli", "Ulla", "Veera", "Venla", "Vilma",
}

var MaleNames = []string{
	"Aapo", "Aarne", "Aatu", "Akseli", "Aleksi", "Antero", "Antti", "Ari", "Arto", "Arvo",
	"Benjamin", "Daniel", "Eemeli", "Eero", "Eetu", "Eino", "Elias", "Emil", "Erkki", "Esa",
	"Hannu", "Harri", "Heikki", "Henri", "Hugo", "Iivari", "Ilkka", "Ilmari", "Jaakko", "Janne",
	"Jani", "Jari", "Jarkko", "Jarmo", "Jesse", "Johannes", "Joni", "Joonas", "Jorma", "Jouni",
	"Juha", "Juhani", "Juho", "Jukka", "Jussi", "Jyrki", "Kai", "Kalevi", "Kalle", "Kari",
	"Kauko", "Keijo", "Kimmo", "Kristian", "Lasse", "Lauri", "Leevi", "Leo", "Markku", "Marko",
	"Martti", "Matias", "Matti", "Mika", "Mikael", "Mikko", "Niilo", "Niko", "Olavi", "Oliver",
	"Olli", "Onni", "Oskari", "Osmo", "Otto", "Pasi", "Patrik", "Pekka", "Pentti", "Pertti",
	"Petri", "Petteri", "Raimo", "Rasmus", "Rauno", "Reijo", "Risto", "Sakari", "Sami", "Samuel",
	"Seppo", "Simo", "Tapani", "Tapio", "Teemu", "Tero", "Timo", "Toivo", "Tommi", "Toni",
	"Tuomas", "Tuomo", "Unto", "Urho", "Valtteri", "Veeti", "Veikko", "Vesa", "Viljami", "Ville",
	"Väinö",
}

var FamilyNames = []string{
	"Aalto", "Aaltonen", "Ahola", "Ahonen", "Airaksinen", "Anttila", "Anttonen", "Auvinen", "Backman", "Björklund",
	"Eskelinen", "Halonen", "Hakala", "Hakkarainen", "Hannula", "Harju", "Harjula", "Heikkilä", "Heikkinen", "Heino",
	"Heinonen", "Heiskanen", "Hietala", "Hiltunen", "Hirvonen", "Holmström", "Honkanen", "Huhtala", "Huovinen", "Huttunen",
	"Hyttinen", "Hytönen", "Hyvönen", "Hämäläinen", "Hänninen", "Ikonen", "Immonen", "Jokela", "Jokinen", "Järvinen",
	"Jääskeläinen", "Kallio", "Kangas", "Kantola", "Karjalainen", "Karppinen", "Karvonen", "Kauppi", "Kauppinen", "Kemppainen",
	"Keränen", "Ketola", "Kettunen", "Kinnunen", "Kivelä", "Kivimäki", "Kivinen", "Koivisto", "Koivula", "Kokkonen",
	"Kolehmainen", "Kontio", "Koponen", "Korhonen", "Korpela", "Koskinen", "Kukkonen", "Kurkela", "Kurki", "Kähkönen",
	"Kärkkäinen", "Laakso", "Laaksonen", "Lahtinen", "Laine", "Laitinen", "Lampinen", "Lappalainen", "Lassila", "Laukkanen",
	"Lehtinen", "Lehto", "Lehtonen", "Leinonen", "Leppänen", "Lindberg", "Lindgren", "Lindholm", "Lindqvist", "Lindroos",
	"Lindström", "Mattila", "Markkanen", "Manninen", "Miettinen", "Mikkonen", "Moilanen", "Mustonen", "Mäki", "Mäkelä",
	"Mäkinen", "Niemi", "Nieminen", "Nousiainen", "Nurmi", "Nykänen", "Nyman", "Nyström", "Ojala", "Oksanen",
	"Ollila", "Pajunen", "Parviainen", "Partanen", "Peltonen", "Penttinen", "Pesonen", "Pietilä", "Piirainen", "Pitkänen",
	"Pulkkinen", "Pöllänen", "Ranta", "Rantala", "Rantanen", "Rautio", "Riihimäki", "Riikonen", "Rinne", "Rissanen",
	"Ruohonen", "Ruotsalainen", "Rytkönen", "Räsänen", "Saarinen", "Salmi", "Salminen", "Salo", "Salonen", "Savolainen",
	"Seppälä", "Sillanpää", "Sirviö", "Sjöberg", "Soininen", "Sorsa", "Suominen", "Tanskanen", "Tervo", "Tiainen",
	"Tikkanen", "Toivanen", "Toivonen", "Tolonen", "Tuominen", "Turpeinen", "Turunen", "Vainio", "Valtonen", "Vesterinen",
	"Virtanen", "Vuorinen", "Väisänen", "Väänänen", "Wikström", "Ylönen",
}

// Streets are common Finnish street names.
var Streets = []string{
	"Aleksanterinkatu", "Asemakatu", "Hallituskatu", "Hämeenkatu", "Ilmarisenkatu", "Isokatu", "Kalevankatu",
	"Kauppakatu", "Keskuskatu", "Kirkkokatu", "Koivukuja", "Koulukatu", "Kuusitie", "Kalliotie", "Lönnrotinkatu",
	"Mannerheimintie", "Metsätie", "Myllytie", "Mäntytie", "Niittykatu", "Peltotie", "Pihlajatie", "Pohjoisranta",
	"Puistokatu", "Rantatie", "Rautatienkatu", "Rinnetie", "Runeberginkatu", "Satamakatu", "Sepänkatu",
	"Sibeliuksenkatu", "Snellmaninkatu", "Tehtaankatu", "Torikatu", "Urheilukatu", "Vaahterakatu", "Väinämöisenkatu",
	"Yliopistonkatu", "Kanervatie", "Kielotie", "Lehmustie", "Haapatie", "Tammikatu", "Kotkankatu", "Tuomelantie",
	"Järvenrannantie", "Kaivokatu", "Pellervontie", "Ahjontie", "Salmelantie",
}

// Places a synthetic address may be in: a city and the first two digits
// of its postcodes.
var places = []struct{ name, postal string }{
	{"Helsinki", "00"}, {"Espoo", "02"}, {"Tampere", "33"}, {"Vantaa", "01"}, {"Oulu", "90"}, {"Turku", "20"},
	{"Jyväskylä", "40"}, {"Lahti", "15"}, {"Kuopio", "70"}, {"Pori", "28"},
}

// Person returns a synthetic patient (no id, clinic or creation time): a
// plausible adult with a valid identity code whose individual number is
// 900-999, so that it is never a real person's permanent code. taken
// reports codes in use; Person draws again for those.
func Person(rng *mrand.Rand, taken func(code string) bool) confidant.Patient {
	female := rng.IntN(100) < 62
	given := MaleNames[rng.IntN(len(MaleNames))]
	if female {
		given = FemaleNames[rng.IntN(len(FemaleNames))]
	}
	family := FamilyNames[rng.IntN(len(FamilyNames))]
	var birth time.Time
	var code string
	for {
		year := 1950 + rng.IntN(57)
		birth = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(365))
		ind := 900 + 2*rng.IntN(50)
		if !female {
			ind++
		}
		var err error
		if code, err = confidant.MakeIdentityCode(birth, ind); err != nil {
			panic(err) // year and number are in range by construction
		}
		if taken == nil || !taken(code) {
			break
		}
	}
	pl := places[rng.IntN(len(places))]
	addr := fmt.Sprintf("%s %d, %s%d0 %s", Streets[rng.IntN(len(Streets))], 1+rng.IntN(120), pl.postal, 10+rng.IntN(90), pl.name)
	return confidant.Patient{
		GivenName: given, FamilyName: family, IdentityCode: code, BirthDate: birth,
		Phone:   fmt.Sprintf("+358 %s %03d %04d", []string{"40", "44", "45", "50"}[rng.IntN(4)], rng.IntN(1000), rng.IntN(10000)),
		Email:   Fold(given) + "." + Fold(family) + "@example.invalid",
		Address: addr,
	}
}

// Fold turns a name into the ASCII letters of a username: "Mäkelä" ->
// "makela", "Sjöberg" -> "sjoberg".
func Fold(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r))
		case r >= 'A' && r <= 'Z':
			b = append(b, byte(r-'A'+'a'))
		case r == 'ä' || r == 'Ä' || r == 'å' || r == 'Å':
			b = append(b, 'a')
		case r == 'ö' || r == 'Ö':
			b = append(b, 'o')
		case r == 'é':
			b = append(b, 'e')
		}
	}
	return string(b)
}
