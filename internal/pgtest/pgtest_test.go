package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lassoteam/lasso/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCluster: the shared cluster gives each test a database of its own, reachable only on
// its unix socket, and dropping it removes it.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Shared(t)
	a, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	var listen string
	if err := conn.QueryRow(ctx, `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "" {
		t.Errorf("listen_addresses = %q, %v; want none (socket only)", listen, err)
	}
	conn.Close(ctx)
	if err := c.DropDatabase(ctx, a); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, a); err == nil {
		conn.Close(ctx)
		t.Errorf("connected to a dropped database")
	}
	if _, err := os.Stat(c.SocketDir()); err != nil {
		t.Errorf("socket folder: %v", err)
	}
}

// TestStopRemoves: a cluster of its own stops and leaves no folder behind.
func TestStopRemoves(t *testing.T) {
	c, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := c.SocketDir()
	c.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Stop, %s: %v; want it gone", dir, err)
	}
}
