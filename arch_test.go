package confidant_test

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// TestArchitecture enforces the package rules of docs/ARCHITECTURE.md.
func TestArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports ","}}`, "./...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	const mod = "github.com/confidanthealth/confidant"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Split(imports, ",") {
			if imp == "" {
				continue
			}
			switch {
			case pkg == mod:
				// The domain imports only the standard library.
				if p, err := build.Import(imp, "", build.FindOnly); err != nil || !p.Goroot {
					t.Errorf("root package imports %s; it may import only the standard library", imp)
				}
			case pkg == mod+"/internal/web" || pkg == mod+"/internal/api":
				// Transports reach data only through the service layer.
				for _, banned := range []string{"/internal/sqlite", "/internal/postgres", "/internal/storetest", "/internal/seal", "/internal/keys"} {
					if imp == mod+banned {
						t.Errorf("%s imports %s; transports must go through internal/service", pkg, imp)
					}
				}
			case pkg == mod+"/internal/sqlite" || pkg == mod+"/internal/postgres":
				// Databases never see keys or plaintext: they store what
				// internal/seal gives them.
				if imp == mod+"/internal/seal" || strings.HasPrefix(imp, mod+"/internal/keys") || strings.HasPrefix(imp, "github.com/tink-crypto/") {
					t.Errorf("%s imports %s; a store must not handle keys or encryption", pkg, imp)
				}
			}
			// Key material is held by internal/keys alone.
			if !strings.HasPrefix(pkg, mod+"/internal/keys") && (imp == "github.com/miekg/pkcs11" ||
				imp == "github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset" || strings.HasPrefix(imp, mod+"/internal/keys/internal")) {
				t.Errorf("%s imports %s; only internal/keys may hold key material", pkg, imp)
			}
		}
	}
}
