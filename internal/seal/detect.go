package seal

import confidant "github.com/confidanthealth/confidant"

// SurnameIndex returns the blind index that a patient whose family name is
// family has in SealedPatient.SurnameIndex (the same key, table, field and
// normalisation), so that the detector (internal/detect, rule staff_close)
// can compare a staff member's family name with a patient's without either
// being decrypted or leaving the process in the clear.
func SurnameIndex(k Keyring, family string) ([]byte, error) {
	return k.BlindIndex(indexTable, fieldSurname, confidant.NormalizeName(family), SurnameIndexBits)
}
