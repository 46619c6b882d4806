package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
)

const userUsage = `user <subcommand> [flags]

Subcommands:
  create --username U --name NAME --role therapist|manager|security|dpo|patient [--clinic ID ...] [--patient ID] [--email A]
         [--identity-code CODE] [--address TEXT]
  invite [flags] USERNAME                               (a new invitation: a lost one, or a second factor never set up)
  list [--role R] [--clinic ID]
  disable [flags] USERNAME
  enable [flags] USERNAME
  set-password [--password-file F] [flags] USERNAME   (also unlocks the account)
  set-close [--identity-code CODE] [--address TEXT] [--clear] [flags] USERNAME

Flags come before the username. create and invite print a hand-over
invitation code, valid 72 hours and once: with it the person sets their own
password at the web app's /invite page (or POST /api/v1/invitations/accept)
and, for staff, sets up their second factor there and then. Nobody, not the
operator either, chooses another person's password or second factor.
Disabling or setting a password ends the account's sessions. set-password
without --password-file generates a random password and prints it once.

A staff member's identity code and home address (create, or set-close on
an existing account) let the detector's staff_close rule recognise them
opening their own record as a patient, or a patient who lives with them
(docs/INCIDENTS.md). Only keyed blind indexes of them are stored, never
the code or the address. set-close sets what it is given and keeps the
other; --clear removes both. Patients' accounts take neither.`

func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: confidant "+userUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("user "+sub, userUsage, stderr)
	var (
		username = fs.String("username", "", "username (create)")
		name     = fs.String("name", "", "display name (create)")
		email    = fs.String("email", "", "email address of a staff account (create)")
		idCode   = fs.String("identity-code", "", "a staff member's Finnish identity code (create, set-close; optional): only its blind index is stored, so that the detector recognises them opening their own or a colleague's patient record")
		address  = fs.String("address", "", "a staff member's home address, as a patient's is written (create, set-close; optional): only its blind index is stored, so that the detector recognises them opening the record of a patient who lives with them")
		clearIx  = fs.Bool("clear", false, "remove the identity code's and the address's indexes (set-close)")
		role     = fs.String("role", "", "role")
		patient  = fs.String("patient", "", "patient id (create a patient account)")
		pwFile   = fs.String("password-file", "", "read the password from this file instead of generating one")
		clinics  multiFlag
	)
	fs.Var(&clinics, "clinic", "clinic id (repeatable)")
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, io.Discard, openOptions{logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	st := a.store
	hasher, err := password.New(password.Config{})
	if err != nil {
		return err
	}
	svc, err := service.New(st, hasher, cfg.serviceConfig(), service.WithAuditor(a.log))
	if err != nil {
		return err
	}
	pw := func() (string, bool, error) {
		if *pwFile != "" {
			p, err := readPasswordFile(*pwFile)
			return p, false, err
		}
		return newPassword(), true, nil
	}
	target := func() (string, error) {
		if fs.NArg() != 1 {
			return "", fmt.Errorf("name exactly one username")
		}
		return strings.ToLower(fs.Arg(0)), nil
	}
	// byName reads an account by its username.
	byName := func(un string) (u confidant.User, err error) {
		err = st.View(ctx, func(tx confidant.Tx) error {
			u, err = tx.UserByUsername(ctx, un)
			return err
		})
		return u, err
	}
	switch sub {
	case "create":
		// By invitation, as every account: the person sets their own
		// password (docs/SECURITY.md, "Separation of duties"). Accounts
		// made here need no approval (the operator holds the machine).
		if *pwFile != "" {
			return fmt.Errorf("accounts are created by invitation: the person sets their own password (no --password-file)")
		}
		inv, err := svc.OperatorInviteUser(ctx, service.StaffInput{
			Username: *username, DisplayName: *name, Role: confidant.Role(*role), ClinicIDs: clinics, PatientID: *patient, Email: *email,
			IdentityCode: *idCode, Address: *address,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s %s (id %s)\n", inv.User.Role, inv.User.Username, inv.User.ID)
		printHandover(stdout, inv)
	case "invite":
		un, err := target()
		if err != nil {
			return err
		}
		u, err := byName(un)
		if err != nil {
			return err
		}
		inv, err := svc.OperatorReinvite(ctx, u.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "invited %s %s again; earlier unused invitations are revoked\n", inv.User.Role, inv.User.Username)
		printHandover(stdout, inv)
	case "set-close":
		un, err := target()
		if err != nil {
			return err
		}
		u, err := byName(un)
		if err != nil {
			return err
		}
		if u, err = svc.OperatorSetClose(ctx, u.ID, service.CloseInput{IdentityCode: *idCode, Address: *address, Clear: *clearIx}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "set-close: done for %s (identity code: %s; address: %s)\n", un, given(u.IdentityIndex), given(u.AddressIndex))
	case "list":
		var us []confidant.User
		err := st.View(ctx, func(tx confidant.Tx) error {
			var err error
			us, err = tx.ListUsers(ctx, confidant.UserFilter{Role: confidant.Role(*role), ClinicID: firstOr(clinics)})
			return err
		})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tNAME\tDISABLED\tID")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", u.Username, u.Role, u.DisplayName, u.Disabled, u.ID)
		}
		return tw.Flush()
	case "disable", "enable", "set-password":
		un, err := target()
		if err != nil {
			return err
		}
		var newHash, p string
		var generated bool
		if sub == "set-password" {
			if p, generated, err = pw(); err != nil {
				return err
			}
			if err := service.CheckPassword(p); err != nil {
				return err
			}
			if newHash, err = hasher.Hash(ctx, p); err != nil {
				return err
			}
		}
		err = st.Update(ctx, func(tx confidant.Tx) error {
			u, err := tx.UserByUsername(ctx, un)
			if err != nil {
				return err
			}
			action := service.ActPassword
			switch sub {
			case "set-password":
				if err := tx.SetPassword(ctx, u.ID, newHash); err != nil {
					return err
				}
				if err := tx.RecordLogin(ctx, u.ID, true, time.Time{}); err != nil {
					return err
				}
			default:
				u.Disabled = sub == "disable"
				action = service.ActAccountEnable
				if u.Disabled {
					action = service.ActAccountDisable
				}
				if err := tx.UpdateUser(ctx, u); err != nil {
					return err
				}
			}
			if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
			// Administrative changes are in the access log, from the
			// command line too, committed with the change.
			return tx.Audit(operatorEv(action, "", u.ID, "confidant user "+sub))
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done for %s; the account's sessions were ended\n", sub, un)
		if generated {
			fmt.Fprintf(stdout, "password: %s (shown only once)\n", p)
		}
	default:
		fmt.Fprintf(stderr, "unknown user subcommand %q\n\nUsage: confidant %s\n", sub, userUsage)
		return errUsage
	}
	return nil
}

// printHandover prints an invitation's hand-over code, once.
func printHandover(w io.Writer, inv service.Invited) {
	fmt.Fprintf(w, "invitation code: %s (shown only once; valid until %s)\n",
		service.GroupCode(inv.Code), inv.ExpiresAt.UTC().Format(time.RFC3339))
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// given says whether a blind index is set, never what it is.
func given(ix []byte) string {
	if len(ix) == 0 {
		return "none"
	}
	return "set"
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
