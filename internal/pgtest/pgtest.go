// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb in a temporary folder,
// the server listening only on a unix socket in that folder (no TCP port to clash with), and
// everything removed when the test binary ends.
//
// A test package starts at most one cluster, on first use, and gives each test its own
// database in it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
//
// PostgreSQL must be installed (Debian: apt-get install postgresql); without it the test
// fails saying so. initdb refuses to run as root, so under uid 0 the cluster runs as the
// unprivileged user "postgres" (or "nobody"), owning the folder.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is the advice given when PostgreSQL's programs are missing.
const InstallHint = "PostgreSQL's initdb and postgres were not found in PATH or /usr/lib/postgresql/*/bin: " +
	"install them (Debian: apt-get install postgresql)"

// Cluster is one running PostgreSQL server for tests.
type Cluster struct {
	dir    string // the temporary folder: data/, sock/, log
	sock   string // the folder of the unix socket
	cmd    *exec.Cmd
	exited chan struct{}
	seq    atomic.Int64
}

// superuser is the cluster's superuser; tests connect as it.
const superuser = "lasso"

// FindBin returns the folder holding initdb and postgres: the one of initdb in PATH, else the
// newest /usr/lib/postgresql/*/bin.
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		_, e1 := os.Stat(filepath.Join(dir, "initdb"))
		_, e2 := os.Stat(filepath.Join(dir, "postgres"))
		if e1 == nil && e2 == nil {
			return dir, nil
		}
	}
	return "", errors.New(InstallHint)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start creates and starts a new cluster. Stop removes it.
func Start() (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, sock: filepath.Join(dir, "sock"), exited: make(chan struct{})}
	if err := c.start(bin); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(bin string) error {
	cred, err := runAs()
	if err != nil {
		return err
	}
	data := filepath.Join(c.dir, "data")
	for _, d := range []string{c.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if cred != nil {
		for _, d := range []string{c.dir, c.sock} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: chown %s: %w", d, err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "--auth=trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = c.dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(c.dir, "log"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	// The server runs as a direct child (not daemonised by pg_ctl) so that it dies with the
	// test binary even when that is killed: Pdeathsig sends it SIGQUIT, an immediate shutdown.
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", c.sock,
		"-c", "listen_addresses=", "-c", "max_connections=300", "-c", "fsync=off",
		"-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "shared_buffers=32MB")
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.exited:
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			return fmt.Errorf("pgtest: postgres exited at start-up:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres did not accept connections within a minute: %v", err)
		}
	}
}

// runAs returns the credential to run PostgreSQL's programs with: nil when the test is not
// root, else the user "postgres" or "nobody".
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New("pgtest: running as root, and there is neither a postgres nor a nobody user to run initdb as")
}

// URL returns the connection URL of database db on the cluster's socket.
func (c *Cluster) URL(db string) string {
	return "postgres:///" + db + "?host=" + c.sock + "&user=" + superuser + "&sslmode=disable"
}

// SocketDir is the folder of the cluster's unix socket.
func (c *Cluster) SocketDir() string { return c.sock }

// CreateDatabase creates a new empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("lasso_%d_%d", os.Getpid(), c.seq.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// DropDatabase removes a database made by CreateDatabase, closing its connections.
func (c *Cluster) DropDatabase(ctx context.Context, url string) error {
	name, _, _ := strings.Cut(strings.TrimPrefix(url, "postgres:///"), "?")
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	return nil
}

// NewDatabase is CreateDatabase for one test: the database is dropped when t ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	url, err := c.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DropDatabase(context.Background(), url); err != nil {
			t.Errorf("%v", err)
		}
	})
	return url
}

// Stop shuts the server down (fast mode) and removes the folder.
func (c *Cluster) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: ends sessions, no waiting for clients
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
	}
	os.RemoveAll(c.dir)
}

var shared struct {
	sync.Mutex
	main    bool
	cluster *Cluster
	err     error
	tried   bool
}

// Main runs the package's tests and stops the shared cluster afterwards; call it from
// TestMain.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	shared.Unlock()
	os.Exit(code)
}

// Shared returns the test package's cluster, starting it on first use. The test fails when
// PostgreSQL is not installed or does not start, and when the package's TestMain does not
// call Main (the cluster would outlive the tests).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("pgtest: the test package's TestMain must call pgtest.Main(m), which stops the cluster")
	}
	if !shared.tried {
		shared.tried = true
		shared.cluster, shared.err = Start()
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}
