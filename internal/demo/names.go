package demo

// Word lists for synthetic people and places. Common Finnish given names
// across generations and common Finnish family names; cities with the first
// two digits of their postcodes.

var femaleNames = []string{
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

var maleNames = []string{
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

var familyNames = []string{
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

var streets = []string{
	"Aleksanterinkatu", "Asemakatu", "Hallituskatu", "Hämeenkatu", "Ilmarisenkatu", "Isokatu", "Kalevankatu",
	"Kauppakatu", "Keskuskatu", "Kirkkokatu", "Koivukuja", "Koulukatu", "Kuusitie", "Kalliotie", "Lönnrotinkatu",
	"Mannerheimintie", "Metsätie", "Myllytie", "Mäntytie", "Niittykatu", "Peltotie", "Pihlajatie", "Pohjoisranta",
	"Puistokatu", "Rantatie", "Rautatienkatu", "Rinnetie", "Runeberginkatu", "Satamakatu", "Sepänkatu",
	"Sibeliuksenkatu", "Snellmaninkatu", "Tehtaankatu", "Torikatu", "Urheilukatu", "Vaahterakatu", "Väinämöisenkatu",
	"Yliopistonkatu", "Kanervatie", "Kielotie", "Lehmustie", "Haapatie", "Tammikatu", "Kotkankatu", "Tuomelantie",
	"Järvenrannantie", "Kaivokatu", "Pellervontie", "Ahjontie", "Salmelantie",
}

// fold turns a name into the ASCII letters of a username: "Mäkelä" ->
// "makela", "Sjöberg" -> "sjoberg".
func fold(s string) string {
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
