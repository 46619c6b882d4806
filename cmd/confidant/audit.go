package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/auditlog"
	"github.com/confidanthealth/confidant/internal/progress"
	"golang.org/x/mod/sumdb/note"
)

const auditUsage = `audit <subcommand> [flags]

Subcommands:
  verify [--checkpoint FILE ...]   recompute the access log from the stored events and check it
                                   against the stored checkpoint and externally held ones (files
                                   with signed checkpoints, e.g. from the board or a witness);
                                   names the first bad index and exits non-zero on any fault;
                                   with --records, then checks every note, process note, diagnosis,
                                   plan, measure and attachment against the log's record writes
                                   (missing, reverted, changed or unlogged records, each with the log
                                   index it contradicts; docs/AUDIT.md, "Records")
  rebuild-tiles [--checkpoint FILE ...]
                                   recompute the hash tiles and entry bundles (derived data) from
                                   the leaves stored with the events, after checking the events
                                   alone against the stored and external checkpoints; refuses if
                                   anything but the tiles is wrong. Stop the servers first.
  checkpoint                       sign (if the log grew) and print the latest checkpoint, and the
                                   public key that verifies it
  check-proof --key VKEY|--key-file F FILE
                                   check a patient's downloaded proof bundle without the server
  verify-digest [--key VKEY|--key-file F] FILE
                                   check a board digest's signature (the log's checkpoint key):
                                   with --key or --key-file without the server or the database,
                                   else with the key of the log in --data / --database-url; FILE
                                   may be the whole mail, the digest is read from its first line
                                   ("confidant board digest v1") to the end`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: confidant "+auditUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("audit "+sub, auditUsage, stderr)
	var checkpoints multiFlag
	fs.Var(&checkpoints, "checkpoint", "file holding an externally kept signed checkpoint (repeatable)")
	key := fs.String("key", "", "the log's public key (note verifier key)")
	keyFile := fs.String("key-file", "", "file holding the log's public key")
	records := fs.Bool("records", false, "verify: also check the records against the log's record writes")
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if sub == "check-proof" {
		return checkProof(fs.Args(), *key, *keyFile, stdout)
	}
	if sub == "verify-digest" && (*key != "" || *keyFile != "") {
		return verifyDigest(fs.Args(), *key, *keyFile, nil, stdout)
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stderr, openOptions{logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	var external []auditlog.Checkpoint
	if sub == "verify" || sub == "rebuild-tiles" {
		for _, f := range checkpoints {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("reading checkpoint: %w", err)
			}
			cp, err := a.log.ParseOwn(b)
			if err != nil {
				return fmt.Errorf("checkpoint %s does not verify with this log's key: %w", f, err)
			}
			external = append(external, cp)
		}
	}
	switch sub {
	case "verify-digest":
		return verifyDigest(fs.Args(), "", "", a.log, stdout)
	case "rebuild-tiles":
		var bar *progress.Bar
		var phase string
		size, root, err := a.log.RebuildTiles(ctx, external, func(p string, done, total uint64) {
			if p != phase {
				bar.Finish()
				bar, phase = progress.New(stderr, p, int64(total)), p
			}
			bar.Set(int64(done))
		})
		bar.Finish()
		var f *auditlog.Fault
		if errors.As(err, &f) {
			return fmt.Errorf("the access log is NOT intact apart from its tiles, so they were not rebuilt: first bad index %d: %s (%s)", f.Index, f.Kind, f.Detail)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Rebuilt the access log's tiles from its %d events: root %x, consistent with the stored checkpoint and %d external checkpoint(s).\n", size, root, len(external))
	case "checkpoint":
		cp, err := a.log.Checkpoint(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", cp.Note)
		fmt.Fprintf(stderr, "Verifier key (publish it to whoever keeps checkpoints):\n%s\n", a.log.VerifierKey())
	case "verify":
		var bar *progress.Bar
		err := a.log.Verify(ctx, external, func(done, total uint64) {
			if bar == nil {
				bar = progress.New(stderr, "verifying", int64(total))
			}
			bar.Set(int64(done))
		})
		bar.Finish()
		var f *auditlog.Fault
		if errors.As(err, &f) {
			if f.Kind == auditlog.FaultTile {
				return fmt.Errorf("the access log's events are intact but its tiles are NOT: first bad index %d: %s (%s); "+
					"stop the servers and run `confidant audit rebuild-tiles` to recompute them from the events", f.Index, f.Kind, f.Detail)
			}
			return fmt.Errorf("the access log is NOT intact: first bad index %d: %s (%s)", f.Index, f.Kind, f.Detail)
		}
		if err != nil {
			return err
		}
		size, root, err := a.log.Head(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "The access log is intact: %d events, root %x, consistent with %d external checkpoint(s).\n", size, root, len(external))
		if *records {
			return verifyRecords(ctx, a.log, stdout, stderr)
		}
	default:
		fmt.Fprintf(stderr, "unknown audit subcommand %q\n\nUsage: confidant %s\n", sub, auditUsage)
		return errUsage
	}
	return nil
}

// checkProof checks a proof bundle offline.
func checkProof(files []string, key, keyFile string, stdout io.Writer) error {
	if len(files) != 1 {
		return errors.New("name exactly one bundle file")
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return errors.New("give the log's public key with --key or --key-file")
	}
	v, err := auditlog.NewVerifier(key)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	b, err := auditlog.ParseBundle(data)
	if err != nil {
		return fmt.Errorf("not a proof bundle: %w", err)
	}
	e, err := auditlog.CheckBundle(b, note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("the proof does NOT check: %w", err)
	}
	out, _ := json.MarshalIndent(map[string]any{
		"version": e.Version, "index": e.Index, "time": e.Time, "actor": e.ActorID, "role": e.Role, "clinic": e.ClinicID,
		"action": e.Action, "patient": e.PatientID, "record": e.RecordID, "purpose": e.Purpose, "outcome": e.Outcome,
	}, "", "  ")
	fmt.Fprintf(stdout, "The proof checks: this entry is in the log at index %d of %d, under a checkpoint signed by the log.\n%s\n", b.Index, b.Size, out)
	return nil
}

// verifyRecords runs the records check and prints its report: exit status
// non-zero when anything contradicts the log.
func verifyRecords(ctx context.Context, l *audit.Log, stdout, stderr io.Writer) error {
	var bar *progress.Bar
	var phase string
	rep, err := l.VerifyRecords(ctx, func(p string, done, total uint64) {
		if p != phase {
			bar.Finish()
			bar, phase = progress.New(stderr, p, int64(total)), p
		}
		bar.Set(int64(done))
	})
	bar.Finish()
	if err != nil {
		return err
	}
	printRecordsReport(stdout, rep)
	if !rep.OK() {
		return fmt.Errorf("the records do NOT match the access log: %d finding(s)", len(rep.Findings))
	}
	return nil
}

// printRecordsReport prints a records report (ids and counts only).
func printRecordsReport(w io.Writer, rep *audit.RecordsReport) {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f.String())
	}
	secs := rep.Elapsed.Seconds()
	fmt.Fprintf(w, "Records: %d in the tables, %d written according to the log's %d events; %d verified, %d unverifiable (written before record digests), %d finding(s); %.1fs (%.0f records/s, %.0f events/s).\n",
		rep.Stored, rep.Logged, rep.LogSize, rep.Verified, rep.Unverifiable, len(rep.Findings), secs,
		float64(rep.Stored)/max(secs, 1e-9), float64(rep.LogSize)/max(secs, 1e-9))
	if rep.OK() {
		fmt.Fprintln(w, "The records match the access log.")
	}
}

// verifyDigest checks a board digest with the key given (offline) or the
// key of the log l, and prints its body.
func verifyDigest(files []string, key, keyFile string, l *audit.Log, stdout io.Writer) error {
	if len(files) != 1 {
		return errors.New("name exactly one digest file")
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n") // a saved mail
	i := strings.Index(s, auditlog.DigestHeader+"\n")
	if i < 0 {
		return errors.New("the file holds no board digest (no line \"" + auditlog.DigestHeader + "\")")
	}
	text := []byte(strings.TrimRight(s[i:], " \t\n") + "\n")
	var body string
	if l != nil {
		body, err = l.OpenDigest(text)
	} else {
		if keyFile != "" {
			b, rerr := os.ReadFile(keyFile)
			if rerr != nil {
				return rerr
			}
			key = strings.TrimSpace(string(b))
		}
		v, verr := auditlog.NewVerifier(key)
		if verr != nil {
			return verr
		}
		body, err = auditlog.OpenDigest(text, note.VerifierList(v))
	}
	if err != nil {
		return fmt.Errorf("the digest does NOT check: %w", err)
	}
	fmt.Fprintf(stdout, "The digest checks: signed with the access log's checkpoint key.\n%s", body)
	return nil
}
