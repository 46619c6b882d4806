package keys_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	modulePath = "github.com/confidanthealth/confidant"
	keysPath   = modulePath + "/internal/keys"
)

// banned may be imported only by internal/keys and the packages under it.
var banned = []string{
	keysPath + "/internal",
	"github.com/miekg/pkcs11",
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset",
}

// violations reads lines of "<package> <import>,<import>,..." and returns
// "<package> imports <import>" for every banned import outside
// internal/keys.
func violations(list string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg == keysPath || strings.HasPrefix(pkg, keysPath+"/") {
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			for _, b := range banned {
				if imp == b || strings.HasPrefix(imp, b+"/") {
					out = append(out, pkg+" imports "+imp)
				}
			}
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	list := strings.Join([]string{
		keysPath + " " + banned[0] + "/filekek,github.com/miekg/pkcs11",
		keysPath + "/internal/hsm github.com/miekg/pkcs11",
		modulePath + "/internal/seal github.com/tink-crypto/tink-go/v2/aead,github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset",
		modulePath + "/cmd/confidant " + keysPath + "," + keysPath + "/internal/hsm",
		modulePath + "/internal/keysmith github.com/miekg/pkcs11",
		modulePath + "/internal/api ,,",
	}, "\n")
	want := []string{
		modulePath + "/internal/seal imports github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset",
		modulePath + "/cmd/confidant imports " + keysPath + "/internal/hsm",
		modulePath + "/internal/keysmith imports github.com/miekg/pkcs11",
	}
	if diff := cmp.Diff(want, violations(list)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// TestOnlyKeysHoldsKeys enforces that key material stays in internal/keys:
// no package outside it (tests included, with and without the pkcs11 build
// tag) imports its provider internals, the PKCS#11 binding, or Tink's
// cleartext keyset access.
func TestOnlyKeysHoldsKeys(t *testing.T) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, tags := range []string{"", "pkcs11"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-e", "-f",
			`{{.ImportPath}} {{join .Imports ","}},{{join .TestImports ","}},{{join .XTestImports ","}}`, "./...")
		cmd.Dir = strings.TrimSpace(string(root))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tags, err)
		}
		if !strings.Contains(string(out), modulePath+"/internal/") {
			t.Fatalf("go list -tags %q listed no internal packages:\n%s", tags, out)
		}
		for _, v := range violations(string(out)) {
			t.Errorf("%s (tags %q); only internal/keys may", v, tags)
		}
	}
}
