package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// image is what the Dockerfile's final stage gives the process: ENTRYPOINT, CMD and ENV.
type image struct {
	entrypoint, cmd []string
	env             map[string]string
}

// parseDockerfile reads the last stage's ENTRYPOINT and CMD (exec form) and ENV (key=value).
func parseDockerfile(t *testing.T, path string) image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img := image{env: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(b), "\\\n", " ")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			img = image{env: map[string]string{}} // only the final stage counts
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("%s is not in exec form: %q", word, rest)
			}
			if strings.ToUpper(word) == "CMD" {
				img.cmd = v
			} else {
				img.entrypoint = v
			}
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("ENV %q: write key=value", rest)
				}
				img.env[k] = v
			}
		}
	}
	return img
}

// runImage runs the real main as the image would: ENTRYPOINT's arguments and CMD, the image's
// ENV with extra on top, the data folder in a temporary directory and the port a free one. It
// returns the address it serves, or the error it stopped with.
func runImage(t *testing.T, img image, extra map[string]string) (string, error) {
	t.Helper()
	if len(img.entrypoint) == 0 || img.entrypoint[0] != "/usr/local/bin/lasso" {
		t.Fatalf("ENTRYPOINT %q: want the lasso binary", img.entrypoint)
	}
	env := map[string]string{}
	for k, v := range img.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	host, _, err := net.SplitHostPort(env["LASSO_ADDR"])
	if err != nil {
		t.Fatalf("ENV LASSO_ADDR %q: %v", env["LASSO_ADDR"], err)
	}
	port := freeAddr(t)[len("127.0.0.1:"):]
	env["LASSO_ADDR"] = net.JoinHostPort(host, port)
	env["LASSO_DATA_DIR"] = t.TempDir()
	args := append(append([]string{}, img.entrypoint[1:]...), img.cmd...)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, pw, io.Discard)
		pw.Close()
	}()
	started := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		started <- line
		io.Copy(io.Discard, pr) //nolint:errcheck // drain
	}()
	select {
	case err := <-done:
		cancel()
		return "", err
	case line := <-started:
		if !strings.Contains(line, "running") {
			cancel()
			return "", <-done
		}
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
		return "127.0.0.1:" + port, nil
	}
}

// TestDockerfileCommand: the image's own command line, run by the real main, fails at once
// without CDF settings and names every variable CDF mode needs and the one that allows a local
// demo; with LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK=true it serves, on every interface, the
// sign-in page to a browser on the host (Host localhost:8080) and the probes.
func TestDockerfileCommand(t *testing.T) {
	img := parseDockerfile(t, "../../Dockerfile")
	if img.env["LASSO_DATA_DIR"] != "/data" {
		t.Errorf("ENV LASSO_DATA_DIR %q, want /data (the volume)", img.env["LASSO_DATA_DIR"])
	}

	_, err := runImage(t, img, nil)
	if err == nil {
		t.Fatal("the default command started without any CDF settings")
	}
	for _, name := range append(cdfSettings, "LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK=true") {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the default command's error does not name %s: %v", name, err)
		}
	}

	addr, err := runImage(t, img, map[string]string{"LASSO_UNSAFE_LOCAL_SIGNIN_ON_NETWORK": "true"})
	if err != nil {
		t.Fatalf("the local demo did not start: %v", err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for path, host := range map[string]string{"/signin": "localhost:8080", "/healthz": "172.17.0.2:8080", "/readyz": "172.17.0.2:8080"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s for host %s: %d", path, host, res.StatusCode)
		}
	}
}
