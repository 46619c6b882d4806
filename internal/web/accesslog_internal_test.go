package web

import (
	"os"
	"regexp"
	"testing"
)

// Every action the service records has words for patients and security
// officers (else the pages show its code, and the officer's form cannot
// select it).
func TestEveryActionHasWords(t *testing.T) {
	src, err := os.ReadFile("../service/audit.go")
	if err != nil {
		t.Fatal(err)
	}
	acts := regexp.MustCompile(`(?m)^\s*Act\w+\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(acts) < 30 {
		t.Fatalf("found only %d actions in internal/service/audit.go", len(acts))
	}
	for _, m := range acts {
		w, ok := actionTexts[m[1]]
		if !ok || w.patient == "" || w.staff == "" {
			t.Errorf("action %q has no words in actionTexts", m[1])
		}
	}
	if len(actionTexts) != len(acts) {
		t.Errorf("actionTexts has %d actions, the service %d", len(actionTexts), len(acts))
	}
	if patientAction("future.thing") != "future.thing" || staffAction("future.thing") != "future.thing" {
		t.Errorf("an unknown action is not shown as its code")
	}
}
