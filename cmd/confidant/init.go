package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/password"
	"github.com/confidanthealth/confidant/internal/service"
)

func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "init --org NAME --clinic NAME [--city CITY] [--manager USERNAME] [--security USERNAME] [flags]", stderr)
	org := fs.String("org", "", "organisation name (required)")
	clinic := fs.String("clinic", "", "name of the first clinic (required)")
	city := fs.String("city", "", "city of the first clinic")
	manager := fs.String("manager", "manager", "username of the first clinic manager")
	security := fs.String("security", "security", "username of the first security officer")
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*org) == "" || strings.TrimSpace(*clinic) == "" {
		fs.Usage()
		return errUsage
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, stdout, openOptions{createKEK: true, logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	st := a.store
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := confidant.Clinic{ID: confidant.NewID(), Name: strings.TrimSpace(*clinic), City: strings.TrimSpace(*city), CreatedAt: now}
	err = st.Update(ctx, func(tx confidant.Tx) error {
		if _, err := tx.Organisation(ctx); err == nil {
			return errors.New("this database is already initialised")
		} else if !confidant.IsKind(err, confidant.KindNotFound) {
			return err
		}
		if err := tx.CreateOrganisation(ctx, confidant.Organisation{ID: confidant.NewID(), Name: strings.TrimSpace(*org), CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.CreateClinic(ctx, c); err != nil {
			return err
		}
		return tx.Audit(operatorEv(service.ActClinicCreate, "", c.ID, "confidant init"))
	})
	if err != nil {
		return err
	}
	hasher, err := password.New(password.Config{})
	if err != nil {
		return err
	}
	svc, err := service.New(st, hasher, cfg.serviceConfig(), service.WithAuditor(a.log))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Initialised %q with clinic %q (id %s).\n", *org, c.Name, c.ID)
	for _, a := range []struct {
		username string
		role     confidant.Role
		clinics  []string
	}{{*manager, confidant.RoleManager, []string{c.ID}}, {*security, confidant.RoleSecurity, nil}} {
		inv, err := svc.OperatorInviteUser(ctx, service.StaffInput{
			Username: a.username, DisplayName: a.role.Label(), Role: a.role, ClinicIDs: a.clinics,
		})
		if err != nil {
			return fmt.Errorf("creating %s account: %w", a.role, err)
		}
		fmt.Fprintf(stdout, "%s account: %s  invitation code: %s\n", a.role.Label(), a.username, service.GroupCode(inv.Code))
	}
	fmt.Fprintln(stdout, "These invitation codes are shown only once and are valid for 72 hours. Hand each to its person:")
	fmt.Fprintln(stdout, "at the web app's /invite page they set their own password and set up their authenticator app.")
	fmt.Fprintln(stdout, "Start the server with: confidant serve --data", cfg.Data)
	return nil
}

// newPassword returns a random 20-character password (about 100 bits).
func newPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return string(b)
}

// randIntn returns a uniform random int in [0, n) from crypto/rand.
func randIntn(n int) int {
	var b [1]byte
	limit := 256 - 256%n
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// readPasswordFile reads a password from a file (first line).
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading password file: %w", err)
	}
	return strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r"), nil
}
