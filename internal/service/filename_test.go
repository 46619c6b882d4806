package service_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

// TestAttachmentFilenames: names with bidirectional formatting characters
// or invalid UTF-8 are refused, and nothing is stored.
func TestAttachmentFilenames(t *testing.T) {
	w := newWorld(t)
	th := w.As(w.Therapist)
	count := func() int {
		t.Helper()
		var n int
		if err := w.Store.View(t.Context(), func(tx confidant.Tx) error {
			as, err := tx.ListAttachments(t.Context(), w.PatientA.ID)
			n = len(as)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"report.pdf", true},
		{"Äijälä lausunto.txt", true},
		{`C:\\Users\\x\\scan.txt`, true},
		{"invoice\u202Etxt.exe", false}, // right-to-left override
		{"a\u202Ab.txt", false},
		{"a\u202Cb.txt", false},
		{"a\u2066b.txt", false}, // isolates
		{"a\u2069b.txt", false},
		{"a\u200Eb.txt", false}, // marks
		{"a\u200Fb.txt", false},
		{"a\u061Cb.txt", false}, // Arabic letter mark
		{"bad\xffutf8.txt", false},
		{"\xc3.txt", false},
		{"", false},
		{"a\nb.txt", false},
	} {
		before := count()
		_, err := w.Service.UploadAttachment(th, w.PatientA.ID, tc.name, strings.NewReader("plain text attachment"))
		if tc.ok != (err == nil) || (!tc.ok && confidant.CodeOf(err) != "invalid_filename") {
			t.Errorf("%q: %v, want ok %v", tc.name, err, tc.ok)
		}
		want := before
		if tc.ok {
			want++
		}
		if got := count(); got != want {
			t.Errorf("%q: %d attachments after, want %d", tc.name, got, want)
		}
	}
}

// FuzzCleanFilename: every accepted name is valid UTF-8 without control or
// bidirectional formatting characters and not longer than 200 bytes; every
// refusal is invalid_filename.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{"a.txt", "x\u202Ey", "\xff", `..\..\a`, "a/b/c.pdf", " ", "\u2067"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := service.CleanFilename(in)
		if err != nil {
			if confidant.CodeOf(err) != "invalid_filename" || confidant.KindOf(err) != confidant.KindInvalid {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if !utf8.ValidString(name) || name == "" || len(name) > 200 || strings.ContainsAny(name, "/\\\"<>") {
			t.Fatalf("%q accepted as %q", in, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C {
				t.Fatalf("%q accepted as %q with %U", in, name, r)
			}
		}
	})
}
