//go:build !baseline

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Without the build tag, --insecure-plain-baseline does not exist.
func TestPlainBaselineFlagUnknown(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--insecure-plain-baseline", "--data", t.TempDir()},
		{"seed", "--insecure-plain-baseline", "--data", t.TempDir(), "--patients", "2", "--notes-per-patient", "1"},
		{"demo", "--insecure-plain-baseline", "--data", t.TempDir(), "--no-serve"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code != 2 || !strings.Contains(errOut, "flag provided but not defined: -insecure-plain-baseline") {
			t.Errorf("%s: exit %d, %s", args[0], code, errOut)
		}
	}
	if _, _, errOut := runCmd(t, "serve", "--help"); strings.Contains(errOut, "plain") {
		t.Errorf("serve --help mentions the baseline: %s", errOut)
	}
}

// Only a binary built with -tags baseline contains internal/baseline (the
// keyring without cryptography, the store without access log), and no
// package of the module but cmd/confidant's tagged file imports it.
func TestPlainBaselineNotInProduct(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIPPED: no go command on PATH to list the import graph")
	}
	const pkg = "github.com/confidanthealth/confidant/internal/baseline"
	list := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(gobin, append([]string{"list"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return string(out)
	}
	deps := list("-deps", "github.com/confidanthealth/confidant/cmd/confidant")
	if strings.Contains(deps, pkg) {
		t.Errorf("the normal binary links %s", pkg)
	}
	if !strings.Contains(list("-tags", "baseline", "-deps", "github.com/confidanthealth/confidant/cmd/confidant"), pkg) {
		t.Errorf("the baseline binary does not link %s (the check above proves nothing)", pkg)
	}
	for _, tags := range []string{"", "baseline", "pkcs11"} {
		for _, line := range strings.Split(list("-tags", tags, "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "github.com/confidanthealth/confidant/..."), "\n") {
			path, imports, _ := strings.Cut(line, ":")
			if strings.Contains(imports+" ", " "+pkg+" ") && !(tags == "baseline" && path == "github.com/confidanthealth/confidant/cmd/confidant") {
				t.Errorf("with tags %q, %s imports %s", tags, path, pkg)
			}
		}
	}
}
