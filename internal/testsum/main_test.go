package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestDB"}`,
		`{"Action":"output","Package":"p","Test":"TestDB","Output":"=== RUN   TestDB\n"}`,
		`{"Action":"output","Package":"p","Test":"TestDB","Output":"    db_test.go:20: SKIPPING the PostgreSQL tests: set CONFIDANT_TEST_POSTGRES\n"}`,
		`{"Action":"output","Package":"p","Test":"TestDB","Output":"--- SKIP: TestDB (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestDB"}`,
		`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}`,
		`{"Action":"pass","Package":"p"}`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	got := out.String()
	for _, want := range []string{"ok  \tp", "1 tests SKIPPED", "1: SKIPPING the PostgreSQL tests: set CONFIDANT_TEST_POSTGRES\n     in p", "\n1 passed, 0 failed, 1 skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestRunFailure(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	if got := out.String(); !strings.Contains(got, "boom") || !strings.Contains(got, "0 passed, 1 failed, 0 skipped") {
		t.Errorf("output:\n%s", got)
	}
}

func TestRunNoTests(t *testing.T) {
	var out bytes.Buffer
	if code := run(strings.NewReader("no test files\n"), &out); code != 1 {
		t.Fatalf("a run with no test exited %d, want 1", code)
	}
}

func FuzzRun(f *testing.F) {
	f.Add([]byte(`{"Action":"skip","Package":"p","Test":"T"}`))
	f.Add([]byte("not json\n{\"Action\":\"output\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		run(bytes.NewReader(b), &out) // never panics
	})
}
