package seal_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/baseline"
	"github.com/confidanthealth/confidant/internal/seal"
	"github.com/confidanthealth/confidant/internal/service"
	"github.com/confidanthealth/confidant/internal/sqlite"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// Benchmarks of the cost of encryption at rest on the paths people wait
// for: saving a note, opening a chart, searching by identity code. Each
// runs the full product path (service, seal, SQLite) twice: encrypted
// (file KEK, Tink AES-256-GCM, HMAC blind indexes, the access log) and the
// plain baseline of internal/baseline (the one `confidant serve
// --insecure-plain-baseline` uses: a keyring without cryptography, and no
// access log), which does the same SQL on values of the same size.
// docs/BENCHMARKS.md has the figures.

// benchWorld is the testfix world over a fresh SQLite database, encrypted
// or baseline.
func benchWorld(b *testing.B, encrypted bool, opts sqlite.Options) *testfix.World {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "confidant.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var st *seal.Store
	if encrypted {
		st = testfix.Seal(b, db, testfix.Keyring(b))
	} else {
		st = seal.New(baseline.NoLog(db), baseline.Keyring{})
	}
	w := testfix.New(b, st)
	if !encrypted { // the service over the baseline's (absent) access log
		w.Service, err = service.New(st, testfix.FastHasher{}, service.DefaultConfig(),
			service.WithAuditor(baseline.Discard{}), service.WithAuditReader(baseline.Discard{}))
		if err != nil {
			b.Fatal(err)
		}
	}
	// Guard: the encrypted variant stores ciphertext, the baseline the
	// plaintext in the same frame.
	err = db.View(context.Background(), func(tx confidant.SealedTx) error {
		sp, err := tx.Patient(context.Background(), w.PatientA.ID)
		if err == nil && bytes.Contains(sp.Data, []byte(w.PatientA.FamilyName)) == encrypted {
			err = fmt.Errorf("encrypted=%v, but the stored patient row holds the name: %v", encrypted, !encrypted)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// variants runs bench as sub-benchmarks variant=baseline and
// variant=encrypted (so that `benchstat -col /variant` compares them).
func variants(b *testing.B, bench func(b *testing.B, w *testfix.World), opts sqlite.Options) {
	for _, v := range []struct {
		name      string
		encrypted bool
	}{{"baseline", false}, {"encrypted", true}} {
		b.Run("variant="+v.name, func(b *testing.B) {
			b.ReportAllocs()
			bench(b, benchWorld(b, v.encrypted, opts))
		})
	}
}

// measure runs op in b.Loop and reports, besides the wall-clock ns/op,
// the CPU time the process used per operation (cpu-ns/op: user and
// system, garbage collection included), which other load on a shared
// machine disturbs much less.
func measure(b *testing.B, op func() error) {
	var start time.Duration
	n := 0
	for b.Loop() {
		if n == 0 {
			start = cpuTime()
		}
		if err := op(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(n), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// text returns n bytes of note-like text (Finnish, so multi-byte letters
// too), different for each seed.
func text(n, seed int) string {
	words := []string{"asiakas", "kertoo", "nukkuneensa", "huonosti", "viikon", "ajan", "mieliala", "on", "ollut",
		"matala", "käynnillä", "käsiteltiin", "työtilannetta", "ja", "perhettä", "jatketaan", "harjoituksia", "ensi", "kerralla."}
	var s strings.Builder
	for i := seed; s.Len() < n; i++ {
		s.WriteString(words[(i*7+seed)%len(words)])
		s.WriteByte(' ')
	}
	return strings.ToValidUTF8(s.String()[:n], "")
}

// BenchmarkNoteSave saves a new 4 KiB session note through
// service.CreateNote: authorization (the patient row decrypted, the care
// relationship), the note sealed and one write transaction. sync=full is
// the product's durability (an fsync per commit); sync=normal shows the
// same work without most of the disk wait.
func BenchmarkNoteSave(b *testing.B) {
	for _, s := range []struct {
		name    string
		relaxed bool
	}{{"full", false}, {"normal", true}} {
		b.Run("sync="+s.name, func(b *testing.B) {
			variants(b, func(b *testing.B, w *testfix.World) {
				ctx := w.As(w.Therapist)
				body := text(4096, 1)
				measure(b, func() error {
					_, err := w.Service.CreateNote(ctx, w.PatientA.ID, service.NoteInput{Body: body})
					return err
				})
			}, sqlite.Options{RelaxedSync: s.relaxed})
		})
	}
}

// BenchmarkChart opens a chart through service.Chart: the patient, 20
// notes of 2 to 4 KiB (five of them amended, so 25 versions), 3 diagnoses,
// 2 plan versions, 6 measures and 2 process notes, all decrypted.
func BenchmarkChart(b *testing.B) {
	variants(b, func(b *testing.B, w *testfix.World) {
		addChart(b, w, w.PatientA.ID)
		ctx := w.As(w.Therapist)
		c, err := w.Service.Chart(ctx, w.PatientA.ID)
		// The chart holds the most recent notes of the 20.
		if err != nil || len(c.Notes) != service.ChartNotes || !c.MoreNotes || len(c.Diagnoses) != 3 || len(c.Measures) != 6 {
			b.Fatalf("chart: %d notes, %d diagnoses, %d measures, %v", len(c.Notes), len(c.Diagnoses), len(c.Measures), err)
		}
		measure(b, func() error {
			_, err := w.Service.Chart(ctx, w.PatientA.ID)
			return err
		})
	}, sqlite.Options{})
}

func addChart(b *testing.B, w *testfix.World, pid string) {
	b.Helper()
	ctx := context.Background()
	th := w.Therapist.ID
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := w.Store.Update(ctx, func(tx confidant.Tx) error {
		for i := range 20 {
			at := now.Add(time.Duration(i-40) * 24 * time.Hour)
			n := confidant.Note{ID: confidant.NewID(), PatientID: pid, AuthorID: th, SessionAt: at, CreatedAt: at,
				Versions: []confidant.NoteVersion{{Version: 1, Template: confidant.TemplateSOAP, Body: text(2048+i*100, i),
					Status: confidant.NoteSigned, AuthorID: th, CreatedAt: at, UpdatedAt: at, SignedAt: at, SignedBy: th}}}
			if err := tx.CreateNote(ctx, n); err != nil {
				return err
			}
			if i%4 == 0 {
				err := tx.AddNoteVersion(ctx, n.ID, confidant.NoteVersion{Version: 2, Template: confidant.TemplateSOAP,
					Body: text(2048+i*100, i+1), Status: confidant.NoteSigned, AuthorID: th, CreatedAt: at, UpdatedAt: at,
					SignedAt: at, SignedBy: th, Reason: "korjattu annos"})
				if err != nil {
					return err
				}
			}
		}
		for i, code := range []string{"F32.1", "F41.1", "F51.0"} {
			if err := tx.CreateDiagnosis(ctx, confidant.Diagnosis{ID: confidant.NewID(), PatientID: pid, Code: code,
				Title: "Diagnoosi " + code, Note: text(120, i), Status: confidant.DiagnosisActive, RecordedBy: th, RecordedAt: now}); err != nil {
				return err
			}
		}
		for i := range 2 {
			if err := tx.CreatePlan(ctx, confidant.TreatmentPlan{ID: confidant.NewID(), PatientID: pid, Goals: text(600, i),
				Interventions: text(400, i+3), AuthorID: th, CreatedAt: now.Add(time.Duration(i) * time.Hour)}); err != nil {
				return err
			}
		}
		for i := range 6 {
			in, answers := confidant.PHQ9, []int{1, 2, 1, 2, 1, 2, 1, 0, 0}
			if i%2 == 1 {
				in, answers = confidant.GAD7, []int{2, 1, 2, 1, 2, 1, 0}
			}
			score, severity, err := in.Score(answers)
			if err != nil {
				return err
			}
			if err := tx.CreateMeasure(ctx, confidant.Measure{ID: confidant.NewID(), PatientID: pid, Instrument: in, Answers: answers,
				Score: score, Severity: severity, RecordedBy: th, TakenAt: now.Add(time.Duration(i-10) * 24 * time.Hour)}); err != nil {
				return err
			}
		}
		for i := range 2 {
			if err := tx.CreateProcessNote(ctx, confidant.ProcessNote{ID: confidant.NewID(), PatientID: pid, AuthorID: th,
				Body: text(500, i+7), CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSearchIdentityCode searches by identity code through
// service.SearchPatients among 2002 patients of the clinic (2000 added to
// the testfix world's), 21 of them in the therapist's care, cycling
// through the codes of the 20 added ones.
func BenchmarkSearchIdentityCode(b *testing.B) {
	variants(b, func(b *testing.B, w *testfix.World) {
		codes := addPatients(b, w, 2000, 20)
		ctx := w.As(w.Therapist)
		for i, code := range codes {
			ps, err := w.Service.SearchPatients(ctx, code)
			if err != nil || len(ps) != 1 || ps[0].IdentityCode != code {
				b.Fatalf("search %d: %d results, %v", i, len(ps), err)
			}
		}
		i := 0
		measure(b, func() error {
			i++
			_, err := w.Service.SearchPatients(ctx, codes[i%len(codes)])
			return err
		})
	}, sqlite.Options{})
}

// addPatients registers n patients in clinic A, the first inCare of them
// in the therapist's care, and returns the identity codes of those.
func addPatients(b *testing.B, w *testfix.World, n, inCare int) []string {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var codes []string
	for start := 0; start < n; start += 500 {
		err := w.Store.Update(ctx, func(tx confidant.Tx) error {
			for i := start; i < min(start+500, n); i++ {
				birth := time.Date(1940+i%60, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
				code, err := confidant.MakeIdentityCode(birth, 2+i/420) // birth dates repeat every 420
				if err != nil {
					return err
				}
				p := confidant.Patient{ID: confidant.NewID(), ClinicID: w.ClinicA.ID, GivenName: fmt.Sprint("Etunimi", i),
					FamilyName: surnames[i%len(surnames)], IdentityCode: code, BirthDate: birth, Phone: "+358 40 123 4567",
					Email: "potilas@example.invalid", Address: "Katu 1\n00100 Helsinki", CreatedAt: now}
				if err := tx.CreatePatient(ctx, p); err != nil {
					return fmt.Errorf("patient %d: %w", i, err)
				}
				if i < inCare {
					codes = append(codes, code)
					if err := tx.CreateCare(ctx, confidant.CareRelationship{ID: confidant.NewID(), PatientID: p.ID,
						TherapistID: w.Therapist.ID, ClinicID: w.ClinicA.ID, From: now.Add(-time.Hour), CreatedBy: w.Manager.ID, CreatedAt: now}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return codes
}
