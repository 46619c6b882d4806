package seal

import (
	"bytes"
	"encoding/json"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// FuzzOpenAlert feeds arbitrary bytes to the decoders of alerts' and
// honeytokens' sealed parts: as stored data they fail with an integrity
// error (never a panic) unless they are exactly a value sealed for that
// alert; as an authenticated payload they decode or fail with an
// integrity error; a value sealed for one alert never opens as another's.
func FuzzOpenAlert(f *testing.F) {
	_, a := fuzzKeys(f)
	id, other := confidant.NewID(), confidant.NewID()
	alert, err := sealJSON(a, alertData{PatientIDs: []string{confidant.NewID()}, Explanation: "Read 3 charts without care.", Reason: "an audit"},
		kindAlert, AlertsKeyName, id, 0)
	if err != nil {
		f.Fatal(err)
	}
	honey, err := sealJSON(a, honeytokenData{PatientID: confidant.NewID()}, kindHoneytoken, AlertsKeyName, id, 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{alert, honey, alert[:len(alert)-1], nil, []byte("\x01"), []byte(`{"patient_ids":null,"explanation":"x"}`),
		[]byte(`{"patient_id":"nope"}`), []byte(`{"patient_ids":["a"],"explanation":"x","reason":"y","z":1}`), []byte("{\"explanation\":\"\xff\"}")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := openAlertData(a, data, id); err == nil {
			if !bytes.Equal(data, alert) {
				t.Fatalf("arbitrary stored bytes opened as an alert: %+v", d)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("alert: %v, want an integrity error", err)
		}
		if d, err := openHoneytokenData(a, data, id); err == nil {
			if !bytes.Equal(data, honey) {
				t.Fatalf("arbitrary stored bytes opened as a honeytoken: %+v", d)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("honeytoken: %v, want an integrity error", err)
		}
		// As an authenticated payload.
		sa, err := sealBytes(a, data, kindAlert, AlertsKeyName, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := openAlertData(a, sa, id); err == nil {
			if !json.Valid(data) {
				t.Fatalf("alert payload %q is not JSON but decoded to %+v", data, d)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("alert payload: %v, want an integrity error", err)
		}
		if _, err := openAlertData(a, sa, other); !IsIntegrityError(err) {
			t.Fatalf("an alert's sealed part opened for another alert: %v", err)
		}
		sh, err := sealBytes(a, data, kindHoneytoken, AlertsKeyName, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := openHoneytokenData(a, sh, id); err == nil {
			if !confidant.ValidID(d.PatientID) {
				t.Fatalf("honeytoken payload %q decoded to a bad id %q", data, d.PatientID)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("honeytoken payload: %v, want an integrity error", err)
		}
		if _, err := openHoneytokenData(a, sh, other); !IsIntegrityError(err) {
			t.Fatalf("a honeytoken's sealed part opened for another: %v", err)
		}
	})
}
