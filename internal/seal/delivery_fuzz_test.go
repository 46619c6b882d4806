package seal

import (
	"encoding/json"
	"reflect"
	"testing"

	confidant "github.com/confidanthealth/confidant"
)

// FuzzOpenDelivery: the decoder of recipients' and outbox rows' sealed
// values (openDelivery) opens only what was sealed for that row, fails
// with an integrity error otherwise, and never panics; sealing any
// message and opening it gives it back, and not at another row.
func FuzzOpenDelivery(f *testing.F) {
	_, a := fuzzKeys(f)
	msg := confidant.OutboxMessage{To: "board@example.org", Subject: "s", Text: "t", JSON: `{"a":1}`, Severity: "high"}
	sealedMsg, err := sealDelivery(a, msg, "outbox", "row-1")
	if err != nil {
		f.Fatal(err)
	}
	sealedRcpt, err := sealDelivery(a, recipientData{Address: "https://siem.example.org/h", Secret: "0123456789abcdef"}, "recipient", "row-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealedMsg, "to", "subject")
	f.Add(sealedRcpt, "to", "subject")
	f.Add(sealedMsg[:len(sealedMsg)-1], "", "")
	f.Add([]byte{}, "x", "y")
	f.Add([]byte{1}, "x", "y")
	f.Fuzz(func(t *testing.T, data []byte, to, subject string) {
		var m confidant.OutboxMessage
		if err := openDelivery(a, data, &m, "outbox", "row-1"); err == nil {
			if string(data) != string(sealedMsg) || m != msg {
				t.Fatalf("arbitrary bytes opened: %+v", m)
			}
		} else if !IsIntegrityError(err) {
			t.Fatalf("stored bytes: %v, want an integrity error", err)
		}
		var r recipientData
		if err := openDelivery(a, data, &r, "recipient", "row-1"); err == nil && string(data) != string(sealedRcpt) {
			t.Fatalf("arbitrary bytes opened as a recipient: %+v", r)
		}
		in := confidant.OutboxMessage{To: to, Subject: subject, Text: string(data)}
		s, err := sealDelivery(a, in, "outbox", "row-2")
		if err != nil {
			t.Fatal(err)
		}
		var out confidant.OutboxMessage
		if err := openDelivery(a, s, &out, "outbox", "row-2"); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		// JSON replaces invalid UTF-8; compare what JSON keeps.
		var want confidant.OutboxMessage
		if err := decodeJSON(mustJSON(t, in), &want); err != nil || !reflect.DeepEqual(out, want) {
			t.Fatalf("round trip = %+v, want %+v (%v)", out, want, err)
		}
		if err := openDelivery(a, s, &out, "outbox", "row-3"); !IsIntegrityError(err) {
			t.Fatalf("opened at another row: %v", err)
		}
		if err := openDelivery(a, s, &out, "recipient", "row-2"); !IsIntegrityError(err) {
			t.Fatalf("opened as another table's: %v", err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
