package auditlog_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/confidanthealth/confidant/internal/auditlog"
	"golang.org/x/mod/sumdb/note"
)

// The life of one access event: committed by the sequencer, signed into a
// checkpoint, handed to the patient as a bundle, checked by anyone.
func Example() {
	ctx := context.Background()
	store := auditlog.NewMemStore() // a database in production

	// At start: rebuild the appender's state from the tiles (size 0 here).
	st, err := auditlog.LoadState(ctx, store, 0)
	if err != nil {
		log.Fatal(err)
	}
	app := auditlog.NewAppender(st)

	// One batch (group commit): encode each event, draw its nonce, commit.
	var openings []auditlog.Opening
	var leaves [][32]byte
	for i := range uint64(3) {
		e := auditlog.Event{
			Index: i, Time: time.Date(2026, 3, 1, 9, 0, int(i), 0, time.UTC),
			ActorID: "staff-1", Role: "therapist", Action: "note.read",
			PatientID: "patient-1", PatientSeq: i + 1, PatientPrev: int64(i) - 1,
			SessionID: "sess-1", Client: "192.0.2.1",
		}
		// Version 2: the session and the client address only as salted
		// hashes. The salt is kept secret (sealed with the event's free
		// text) by whoever keeps the log.
		salt, err := auditlog.NewSalt(nil)
		if err != nil {
			log.Fatal(err)
		}
		o, err := auditlog.NewOpening(e.Conceal(salt), nil)
		if err != nil {
			log.Fatal(err)
		}
		openings = append(openings, o)
		leaves = append(leaves, o.Commitment())
	}
	size, root, err := app.Append(ctx, store, leaves)
	if err != nil {
		log.Fatal(err)
	}

	// Sign a checkpoint.
	skey, vkey, err := auditlog.GenerateKey(nil, "confidant.example/log")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := auditlog.NewSigner(skey)
	if err != nil {
		log.Fatal(err)
	}
	cp, err := auditlog.SignCheckpoint(signer, "confidant.example/log", size, root)
	if err != nil {
		log.Fatal(err)
	}

	// The patient downloads a bundle for event 1 and checks it offline.
	b, err := auditlog.NewBundle(ctx, store, openings[1], cp)
	if err != nil {
		log.Fatal(err)
	}
	v, err := auditlog.NewVerifier(vkey)
	if err != nil {
		log.Fatal(err)
	}
	e, err := auditlog.CheckBundle(b, note.VerifierList(v))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Index, e.Action, e.Time.Format(time.RFC3339), "in a log of", b.Size, "client hidden:", e.Client == "")
	// Output: 1 note.read 2026-03-01T09:00:01Z in a log of 3 client hidden: true
}
