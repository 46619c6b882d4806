package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/testfix"
)

// TestMain lets the test binary act as the confidant command, so that the
// crash test can run a real server process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("CONFIDANT_TEST_AS_MAIN") == "1" {
		ctx := context.Background()
		os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCrashDuringWrites kills the server (SIGKILL) in the middle of bursts of
// concurrent writes, several times. Afterwards the access log verifies, and
// every write the server acknowledged has its event in the log.
func TestCrashDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	data := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCmd(t, "demo", "--data", data, "--patients", "30", "--no-serve"); code != 0 {
		t.Fatal(errOut)
	}
	var li struct {
		Therapist struct {
			Username, Password string
			TOTPSecret         string `json:"totp_secret"`
		}
	}
	b, _ := os.ReadFile(filepath.Join(data, demoLoginsFile))
	json.Unmarshal(b, &li)

	acked := map[string]bool{}
	var mu sync.Mutex
	var token string
	var patients []string
	for round := range 5 {
		addr := freePort(t)
		cmd := exec.Command(os.Args[0], "serve", "--data", data, "--addr", addr, "--log-level", "error", "--checkpoint-every", "200ms")
		cmd.Env = append(os.Environ(), "CONFIDANT_TEST_AS_MAIN=1")
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		deadline := time.Now().Add(30 * time.Second)
		for {
			if r, err := http.Get(base + "/healthz"); err == nil {
				r.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("server did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if token == "" {
			// Signed in once: the session is stored, so it outlives the
			// SIGKILLs (and a TOTP code is accepted once per 30-s step, so
			// signing in every round would wait for codes).
			token = apiLogin(t, base, li.Therapist.Username, li.Therapist.Password, li.Therapist.TOTPSecret)
			patients = apiPatients(t, base, token)
		}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					p := patients[(w+i)%len(patients)]
					body, _ := json.Marshal(map[string]string{"body": fmt.Sprintf("round %d writer %d note %d", round, w, i)})
					req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/patients/"+p+"/notes", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+token)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						return // the server is gone
					}
					var n struct {
						ID string `json:"id"`
					}
					json.NewDecoder(res.Body).Decode(&n)
					res.Body.Close()
					if res.StatusCode == 201 && n.ID != "" {
						mu.Lock()
						acked[n.ID] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+round*150) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		stop()
		wg.Wait()
	}
	if len(acked) < 20 {
		t.Fatalf("only %d writes were acknowledged; the test did not exercise much", len(acked))
	}

	cfg := resolve(t, "--data", data)
	a, err := openApp(context.Background(), cfg, io.Discard, openOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.log.Verify(context.Background(), nil, nil); err != nil {
		t.Fatalf("the access log does not verify after the crashes: %v", err)
	}
	logged := map[string]bool{}
	var before uint64
	for {
		evs, err := a.log.Query(context.Background(), confidant.EventFilter{Action: "note.create", Before: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			logged[e.RecordID] = true
		}
		if len(evs) < 1000 {
			break
		}
		before = evs[len(evs)-1].Index
	}
	for id := range acked {
		if !logged[id] {
			t.Errorf("acknowledged note %s has no event in the access log", id)
		}
	}
	t.Logf("%d acknowledged writes across 5 crashes, all in a log that verifies (%d note.create events)", len(acked), len(logged))
}

// apiLogin signs in through the API, with a code of the TOTP secret when
// the account has a second factor.
func apiLogin(t *testing.T, base, user, pw, totpSecret string) string {
	t.Helper()
	token, _ := testfix.APISignIn(t, nil, base, user, pw, totpSecret)
	return token
}

func apiPatients(t *testing.T, base, token string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/patients", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ps struct {
		Patients []struct {
			ID string `json:"id"`
		}
	}
	json.NewDecoder(res.Body).Decode(&ps)
	var ids []string
	for _, p := range ps.Patients {
		ids = append(ids, p.ID)
	}
	if len(ids) == 0 {
		t.Fatal("the therapist has no patients")
	}
	return ids
}
