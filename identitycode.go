package confidant

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// identityCheckChars maps (DDMMYYZZZ mod 31) to the check character of a
// Finnish personal identity code (henkilötunnus).
const identityCheckChars = "0123456789ABCDEFHJKLMNPRSTUVWXY"

// ParseIdentityCode validates a Finnish personal identity code and returns it
// normalised (upper case, trimmed) with the birth date it encodes.
//
// The format is DDMMYYCZZZQ: birth date, century sign ('+' for the 1800s;
// '-', 'U'..'Y' for the 1900s; 'A'..'F' for the 2000s, as in the 2023
// reform), individual number 002-999 and check character. The error never
// contains the input.
func ParseIdentityCode(s string) (code string, birth time.Time, err error) {
	bad := func(why string) (string, time.Time, error) {
		return "", time.Time{}, Errorf(KindInvalid, "invalid_identity_code", "The identity code is not valid: %s.", why)
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 11 {
		return bad("it must be 11 characters: date DDMMYY, century sign, three digits and a check character")
	}
	for i, c := range s {
		if (i < 6 || (i >= 7 && i < 10)) && (c < '0' || c > '9') {
			return bad("the date and individual number must be digits")
		}
	}
	var century int
	switch c := s[6]; {
	case c == '+':
		century = 1800
	case c == '-' || (c >= 'U' && c <= 'Y'):
		century = 1900
	case c >= 'A' && c <= 'F':
		century = 2000
	default:
		return bad("unknown century sign")
	}
	dd, _ := strconv.Atoi(s[0:2])
	mm, _ := strconv.Atoi(s[2:4])
	yy, _ := strconv.Atoi(s[4:6])
	birth = time.Date(century+yy, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
	if birth.Day() != dd || int(birth.Month()) != mm || mm < 1 || mm > 12 {
		return bad("the date does not exist")
	}
	ind, _ := strconv.Atoi(s[7:10])
	if ind < 2 {
		return bad("the individual number must be 002 or above")
	}
	n, _ := strconv.Atoi(s[0:6] + s[7:10])
	if s[10] != identityCheckChars[n%31] {
		return bad("the check character does not match")
	}
	return s, birth, nil
}

// MakeIdentityCode builds a valid identity code for a birth date and an
// individual number (2..999). It is used by the synthetic data generator;
// numbers 900-999 are the range reserved for temporary codes, which keeps
// generated codes from colliding with real people's.
func MakeIdentityCode(birth time.Time, individual int) (string, error) {
	if individual < 2 || individual > 999 {
		return "", fmt.Errorf("individual number %d out of range", individual)
	}
	var sign byte
	switch y := birth.Year(); {
	case y >= 1800 && y < 1900:
		sign = '+'
	case y >= 1900 && y < 2000:
		sign = '-'
	case y >= 2000 && y < 2100:
		sign = 'A'
	default:
		return "", fmt.Errorf("year %d out of range", y)
	}
	head := fmt.Sprintf("%02d%02d%02d", birth.Day(), int(birth.Month()), birth.Year()%100)
	ind := fmt.Sprintf("%03d", individual)
	n, _ := strconv.Atoi(head + ind)
	return head + string(sign) + ind + string(identityCheckChars[n%31]), nil
}
