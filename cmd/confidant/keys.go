package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/audit"
	"github.com/confidanthealth/confidant/internal/keys"
	"github.com/confidanthealth/confidant/internal/progress"
	"github.com/confidanthealth/confidant/internal/seal"
)

const keysUsage = `keys <subcommand> [flags]

Subcommands:
  status                         the current KEK key and how many patient keysets it wraps
  rotate-kek [--new-label L]     add a new KEK key (file: in the key file; pkcs11: a new HSM key
                                 labelled L) and re-wrap every patient keyset and system key under it;
                                 resumable: run it again after an interruption
  retire-kek                     file provider: delete KEK keys that no longer wrap anything
  rotate-patient --patient ID    new primary key for one patient and re-encryption of their records
  verify                         decrypt every sealed value of every patient and report the first failure`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: confidant "+keysUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("keys "+sub, keysUsage, stderr)
	patient := fs.String("patient", "", "patient id (rotate-patient)")
	newLabel := fs.String("new-label", "", "pkcs11: label of the new KEK key (rotate-kek)")
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	switch sub {
	case "status", "rotate-kek", "retire-kek", "rotate-patient", "verify":
	default:
		fmt.Fprintf(stderr, "unknown keys subcommand %q\n\nUsage: confidant %s\n", sub, keysUsage)
		return errUsage
	}
	if sub == "rotate-kek" {
		if err := addKEK(cfg, *newLabel, stdout); err != nil {
			return err
		}
		if cfg.KEKProvider == "pkcs11" {
			cfg.PKCS11KeyLabel = *newLabel
		}
	}
	a, err := openApp(ctx, cfg, stderr, openOptions{logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "status":
		var total, other int
		err := a.backend.View(ctx, func(tx confidant.SealedTx) error {
			var err error
			total, other, err = tx.CountPatientKeys(ctx, a.keys.KEKID())
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "KEK provider %s, current KEK key %s\n", cfg.KEKProvider, a.keys.KEKID())
		fmt.Fprintf(stdout, "patient keysets: %d, wrapped by an older KEK key: %d\n", total, other)
	case "rotate-kek":
		var bar *progress.Bar
		n, err := seal.RewrapAll(ctx, a.backend, a.keys, 500, func(done, total int) {
			if bar == nil {
				bar = progress.New(stderr, "re-wrapping", int64(total))
			}
			bar.Set(int64(done))
		})
		bar.Finish()
		if err != nil {
			return fmt.Errorf("KEK rotation stopped after %d keysets (run it again to resume): %w", n, err)
		}
		fmt.Fprintf(stdout, "Re-wrapped %d patient keysets under KEK key %s.\n", n, a.keys.KEKID())
		if err := operatorEvent(ctx, a, "key.rotate_kek", "", fmt.Sprintf("re-wrapped %d keysets under %s", n, a.keys.KEKID())); err != nil {
			return err
		}
		if cfg.KEKProvider == "pkcs11" {
			fmt.Fprintf(stdout, "Set pkcs11-key-label to %q in the configuration before restarting the server.\n", *newLabel)
		}
		fmt.Fprintln(stdout, "When backups made before the rotation may become unreadable, retire the old key: confidant keys retire-kek")
	case "retire-kek":
		if cfg.KEKProvider != "file" {
			return errors.New("retire-kek manages the file provider; with an HSM, destroy the old key object with the HSM's tools once `keys status` shows nothing wrapped by it")
		}
		a.keys.Close()
		a.keys = nil
		kc, err := keysConfig(cfg)
		if err != nil {
			return err
		}
		removed, err := keys.RetireFile(kc.File, kc.Passphrase, func(kekID string) (bool, error) {
			return seal.KEKInUse(ctx, a.backend, kekID)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Retired %d KEK keys %v.\n", len(removed), removed)
		if err := operatorEvent(ctx, a, "key.retire_kek", "", fmt.Sprintf("retired %v", removed)); err != nil {
			return err
		}
	case "rotate-patient":
		if !confidant.ValidID(*patient) {
			return errors.New("--patient must be a patient id")
		}
		var bar *progress.Bar
		start := time.Now()
		err := seal.RotatePatient(ctx, a.backend, a.keys, *patient, func(done, total int) {
			if bar == nil {
				bar = progress.New(stderr, "re-encrypting", int64(total))
			}
			bar.Set(int64(done))
		})
		bar.Finish()
		if err != nil {
			return fmt.Errorf("patient key rotation stopped (run it again to resume): %w", err)
		}
		fmt.Fprintf(stdout, "Rotated the key of patient %s and re-encrypted their records in %s.\n", *patient, time.Since(start).Round(time.Millisecond))
		if err := recordReseals(ctx, a, *patient); err != nil {
			return err
		}
		if err := operatorEvent(ctx, a, "key.rotate_patient", *patient, "new primary key; records re-encrypted"); err != nil {
			return err
		}
	case "verify":
		return verifyAll(ctx, a, stdout, stderr)
	}
	return nil
}

// addKEK adds a new KEK key before re-wrapping.
func addKEK(cfg Config, newLabel string, w io.Writer) error {
	kc, err := keysConfig(cfg)
	if err != nil {
		return err
	}
	switch cfg.KEKProvider {
	case "file":
		id, err := keys.RotateFile(kc.File, kc.Passphrase)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Added KEK key %s to %s.\n", id, kc.File)
	case "pkcs11":
		if newLabel == "" || newLabel == cfg.PKCS11KeyLabel {
			return errors.New("rotate-kek with pkcs11 needs --new-label, different from the current pkcs11-key-label")
		}
		p := kc.PKCS11
		p.KeyLabel = newLabel
		if err := keys.CreatePKCS11Key(p); err != nil {
			return err
		}
		fmt.Fprintf(w, "Created KEK key %q in the HSM.\n", newLabel)
	}
	return nil
}

// verifyAll decrypts every sealed value of every patient.
func verifyAll(ctx context.Context, a *app, stdout, stderr io.Writer) error {
	var ids []string
	err := a.backend.View(ctx, func(tx confidant.SealedTx) error {
		ps, err := tx.ListPatients(ctx, confidant.SealedPatientFilter{})
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return err
	})
	if err != nil {
		return err
	}
	bar := progress.New(stderr, "verifying", int64(len(ids)))
	values := 0
	for i, id := range ids {
		n, err := seal.VerifyPatient(ctx, a.backend, a.keys, id)
		if err != nil {
			bar.Finish()
			return fmt.Errorf("patient %s: %w", id, err)
		}
		values += n
		bar.Set(int64(i + 1))
	}
	bar.Finish()
	fmt.Fprintf(stdout, "All %d sealed values of %d patients decrypt and verify.\n", values, len(ids))
	return nil
}

// operatorEvent records a key-management action of the operator in the
// access log. The action is done; if it cannot be recorded the command says
// so and exits non-zero.
func operatorEvent(ctx context.Context, a *app, action, patientID, purpose string) error {
	if err := a.log.Record(ctx, operatorEv(action, patientID, "", purpose)); err != nil {
		return fmt.Errorf("%s was done but could not be recorded in the access log: %w", action, err)
	}
	return nil
}

// operatorEv is an access-log event of the operator's command line, which
// acts without a signed-in account.
func operatorEv(action, patientID, recordID, purpose string) confidant.AuditEvent {
	return confidant.AuditEvent{
		Time: time.Now(), Role: "operator", Action: action, PatientID: patientID,
		RecordID: recordID, Outcome: confidant.OutcomeOK, Purpose: purpose,
	}
}

// recordReseals records, after a patient key rotation, the new sealed value
// of each of the patient's records (a reseal event with its version and
// digest), so that the records check (`audit verify --records`) finds them
// as the log says and not changed.
func recordReseals(ctx context.Context, a *app, patientID string) error {
	var blobs []confidant.Blob
	err := a.backend.View(ctx, func(tx confidant.SealedTx) error {
		var err error
		blobs, err = tx.PatientBlobs(ctx, patientID)
		return err
	})
	if err != nil {
		return err
	}
	var evs []confidant.AuditEvent
	for _, st := range audit.PatientRecordStates(blobs) {
		ev := operatorEv(audit.ResealActions[st.Kind], patientID, st.ID, "")
		ev.RecordVersion, ev.RecordDigest = st.Version, st.Digest
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil
	}
	if err := a.log.Record(ctx, evs...); err != nil {
		return fmt.Errorf("the records were re-encrypted but their new sealed values could not be recorded in the access log (the records check will report them changed): %w", err)
	}
	return nil
}
