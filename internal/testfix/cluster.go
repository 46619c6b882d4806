package testfix

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvRequireFaults names the environment variable that makes the
// fault-injection tests mandatory (CI sets it to 1): without it they are
// skipped, loudly, where what they need is missing.
const EnvRequireFaults = "CONFIDANT_REQUIRE_FAULTS"

// SkipFaults skips a fault-injection test with a loud message saying why
// (what) and how to run it, or fails it when CONFIDANT_REQUIRE_FAULTS=1.
func SkipFaults(t testing.TB, what string) {
	t.Helper()
	msg := "fault-injection tests NOT RUN: " + what + "; set " + EnvRequireFaults + "=1 to make this fatal (as in CI); see docs/OPERATIONS.md, Fault-injection tests"
	if os.Getenv(EnvRequireFaults) == "1" {
		t.Fatal("FAILING " + msg)
	}
	fmt.Fprintln(os.Stderr, "\n!!!!!!!! SKIPPING "+msg+" !!!!!!!!")
	t.Skip("SKIPPING " + msg)
}

// FaultsPostgresDSN is PostgresDSN for the fault-injection tests: without
// CONFIDANT_TEST_POSTGRES they are skipped loudly, or fail when
// CONFIDANT_REQUIRE_FAULTS=1 (or in CI, as every PostgreSQL test).
func FaultsPostgresDSN(t testing.TB, what string) string {
	t.Helper()
	if os.Getenv(EnvPostgres) == "" && os.Getenv("CI") == "" {
		SkipFaults(t, what+": no PostgreSQL ("+EnvPostgres+" is not set)")
	}
	return PostgresDSN(t, what)
}

// PostgresBin returns the directory holding the PostgreSQL server binaries
// (initdb, pg_ctl, postgres): $CONFIDANT_PG_BIN, or the newest
// /usr/lib/postgresql/*/bin. Without one the test is skipped loudly, or
// fails when CONFIDANT_REQUIRE_FAULTS=1.
func PostgresBin(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CONFIDANT_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	SkipFaults(t, "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin; install postgresql or set CONFIDANT_PG_BIN")
	return ""
}

// version is the major version in /usr/lib/postgresql/VERSION/bin.
func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Cluster is a throwaway PostgreSQL cluster of a test: its own data
// directory, port and socket directory, removed when the test ends. Tests
// stop it the hard way (Stop, -m immediate: like a crash, recovery on the
// next start) and start it again.
type Cluster struct {
	bin   string
	dir   string // owned by the server's OS user
	data  string
	port  int
	owner string // OS user the server runs as; "" for the current user
}

// NewCluster creates (initdb) and starts a cluster. As root, whom initdb and
// postgres refuse, the server runs as the OS user postgres.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{bin: PostgresBin(t)}
	if os.Geteuid() == 0 {
		c.owner = "postgres"
		if _, err := user.Lookup(c.owner); err != nil {
			SkipFaults(t, "running as root and there is no OS user postgres to run a throwaway cluster as")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			SkipFaults(t, "running as root and there is no runuser (util-linux) to start a throwaway cluster as the postgres user")
		}
	}
	// Not t.TempDir: its parents are private to the current user, and
	// the server may run as another.
	dir, err := os.MkdirTemp("", "confidant-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate", "-w")
		os.RemoveAll(dir)
	})
	if c.owner != "" {
		u, _ := user.Lookup(c.owner)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.command(filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.port = freeTCPPort(t)
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = off\nshared_buffers = 32MB\nmax_connections = 200\nlogging_collector = off\n", c.port, c.dir)
	// Appending keeps the file's owner.
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("configuring the cluster: %v", err)
	}
	c.Start(t)
	return c
}

// DSN is the cluster's connection string (user postgres, database
// postgres, sslmode=disable).
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", c.Addr())
}

// Addr is the cluster's host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if out, err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "server.log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, tail(log, 2000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN())
		if err == nil {
			conn.Close(ctx)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the cluster does not accept connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (pg_ctl stop -m immediate): no checkpoint,
// every connection dropped, as in a crash; the next Start recovers.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if out, err := c.pgctl("stop", "-m", "immediate", "-w", "-t", "60"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Restart is Stop, then Start.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Start(t)
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	return c.command(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data}, args...)...).CombinedOutput()
}

// command runs name as the cluster's owner, in its directory.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if c.owner != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.owner, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir
	return cmd
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
