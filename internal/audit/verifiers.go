package audit

import "golang.org/x/mod/sumdb/note"

func notesVerifiers(v note.Verifier) note.Verifiers {
	if v == nil {
		return note.VerifierList()
	}
	return note.VerifierList(v)
}
