package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/confidanthealth/confidant/internal/demo"
)

// TestEntryBundlesForAuditors: the access log's entry bundles are served to
// a security officer's API token and to nobody else.
func TestEntryBundlesForAuditors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "20", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	var li demo.Logins
	b, _ := os.ReadFile(filepath.Join(data, demoLoginsFile))
	if err := json.Unmarshal(b, &li); err != nil {
		t.Fatal(err)
	}
	creds := map[string]demo.Credential{"security": li.Security, "therapist": li.Therapist}
	cfg := resolve(t, "--data", data, "--log-level", "error")
	base, _ := startServer(t, cfg, openOptions{})
	login := func(role string) string {
		c := creds[role]
		return apiLogin(t, base, c.Username, c.Password, c.TOTPSecret)
	}
	sec, ther := login("security"), login("therapist") // two sign-ins: the log has events
	res, err := http.Get(base + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := io.ReadAll(res.Body)
	res.Body.Close()
	lines := strings.Split(string(cp), "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size == 0 {
		t.Fatalf("checkpoint %q", cp)
	}
	path := base + "/log/tile/entries/000"
	if size < 256 {
		path += fmt.Sprintf(".p/%d", size)
	}
	get := func(token string) (int, []byte) {
		req, _ := http.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, body := get(sec); code != 200 || len(body) != int(min(size, 256))*34 {
		t.Fatalf("security officer: %d, %d bytes", code, len(body))
	}
	for name, tok := range map[string]string{"anonymous": "", "therapist": ther, "garbage": "x"} {
		if code, _ := get(tok); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
}
