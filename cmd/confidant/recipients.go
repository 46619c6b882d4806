package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/service"
)

const recipientsUsage = `recipients list [flags]

Lists the configured recipients of alerts (docs/INCIDENTS.md, "Recipients,
delivery and the board digest"), read-only: changes are proposed and
approved by security officers and the data protection officer in the
application (two people). VERIFIED "no" marks a row changed in the database
outside Confidant; RECEIVES says whether alerts go to it.`

func runRecipients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: confidant "+recipientsUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("recipients "+sub, recipientsUsage, stderr)
	config := configFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if sub != "list" {
		fmt.Fprintf(stderr, "unknown recipients subcommand %q\n\nUsage: confidant %s\n", sub, recipientsUsage)
		return errUsage
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
	var rs []confidant.Recipient
	if err := a.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		rs, err = tx.ListRecipients(ctx)
		return err
	}); err != nil {
		return err
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tLABEL\tSTATUS\tVERIFIED\tRECEIVES\tADDRESS")
	for _, r := range rs {
		receives := service.Receives(r)
		addr := r.Address
		if !r.Opened {
			addr = "(does not open)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Label, r.Status, yes(r.Verified), yes(receives), addr)
	}
	return tw.Flush()
}
