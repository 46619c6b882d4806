package postgres

import (
	"testing"

	"github.com/confidanthealth/confidant"
)

// TestSealedSpecifics covers what this store decides where the conformance
// suite leaves room: the room for encryption overhead in a chunk, the
// deferred foreign key of patient keys, and RewriteBlob's matching.
func TestSealedSpecifics(t *testing.T) {
	t.Parallel()
	db := openTest(t, Options{})
	ctx := t.Context()
	clinic := confidant.Clinic{ID: confidant.NewID(), Name: "C"}
	p := confidant.SealedPatient{ID: confidant.NewID(), ClinicID: clinic.ID, Data: []byte{0, 1}}
	att := confidant.SealedAttachment{ID: confidant.NewID(), PatientID: p.ID, Size: confidant.AttachmentChunkSize, Chunks: 1, Data: []byte{2}}
	err := db.Update(ctx, func(tx confidant.SealedTx) error {
		if err := tx.CreateClinic(ctx, clinic); err != nil {
			return err
		}
		// A keyset may be stored before its patient in a transaction.
		if err := tx.PutPatientKey(ctx, confidant.WrappedKey{Owner: p.ID, KEKID: "k", Wrapped: []byte{3}}); err != nil {
			return err
		}
		if err := tx.CreatePatient(ctx, p); err != nil {
			return err
		}
		// A full chunk, sealed (nonce, tag and a header), fits.
		if err := tx.PutAttachmentChunk(ctx, att.ID, 0, make([]byte, confidant.AttachmentChunkSize+64)); err != nil {
			return err
		}
		return tx.CreateAttachment(ctx, att)
	})
	if err != nil {
		t.Fatal(err)
	}

	err = db.Update(ctx, func(tx confidant.SealedTx) error {
		return tx.PutPatientKey(ctx, confidant.WrappedKey{Owner: confidant.NewID(), KEKID: "k", Wrapped: []byte{3}})
	})
	if confidant.KindOf(err) != confidant.KindNotFound {
		t.Errorf("PutPatientKey of an unknown patient = %v, want KindNotFound at commit", err)
	}

	var blobs []confidant.Blob
	err = db.View(ctx, func(tx confidant.SealedTx) error {
		var err error
		blobs, err = tx.PatientBlobs(ctx, p.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []confidant.BlobKind
	for _, b := range blobs {
		kinds = append(kinds, b.Kind)
	}
	want := []confidant.BlobKind{confidant.BlobPatient, confidant.BlobAttachment, confidant.BlobAttachmentChunk}
	if len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("PatientBlobs kinds = %v, want %v", kinds, want)
	}

	for _, tc := range []struct {
		name string
		b    confidant.Blob
		kind confidant.Kind // of the error; KindInternal (0) here means success
	}{
		{"patient", confidant.Blob{PatientID: p.ID, Kind: confidant.BlobPatient, ID: p.ID, Data: []byte{9}}, 0},
		{"patient with a sub", confidant.Blob{PatientID: p.ID, Kind: confidant.BlobPatient, ID: p.ID, Sub: 1}, confidant.KindNotFound},
		{"patient of another owner", confidant.Blob{PatientID: confidant.NewID(), Kind: confidant.BlobPatient, ID: p.ID}, confidant.KindNotFound},
		{"attachment with a sub", confidant.Blob{PatientID: p.ID, Kind: confidant.BlobAttachment, ID: att.ID, Sub: 1}, confidant.KindNotFound},
		{"chunk", confidant.Blob{PatientID: p.ID, Kind: confidant.BlobAttachmentChunk, ID: att.ID, Data: []byte{9}}, 0},
		{"chunk of another owner", confidant.Blob{PatientID: confidant.NewID(), Kind: confidant.BlobAttachmentChunk, ID: att.ID}, confidant.KindNotFound},
		{"chunk too large", confidant.Blob{PatientID: p.ID, Kind: confidant.BlobAttachmentChunk, ID: att.ID, Data: make([]byte, maxSealedChunk+1)}, confidant.KindTooLarge},
		{"unknown kind", confidant.Blob{PatientID: p.ID, Kind: "patients; DROP TABLE patients", ID: p.ID}, confidant.KindNotFound},
	} {
		err := db.Update(ctx, func(tx confidant.SealedTx) error { return tx.RewriteBlob(ctx, tc.b) })
		switch {
		case tc.kind == confidant.KindInternal && err != nil:
			t.Errorf("RewriteBlob %s: %v", tc.name, err)
		case tc.kind != confidant.KindInternal && confidant.KindOf(err) != tc.kind:
			t.Errorf("RewriteBlob %s = %v, want kind %v", tc.name, err, tc.kind)
		}
	}
}
