package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/internal/pgtest"
)

// replicaMember is a signed-in browser of the room test: its cookies, CSRF token and id.
type replicaMember struct {
	name, id string
	client   *http.Client
	csrf     string
}

// do sends a request straight to the replica at addr, as a browser that nginx sent there.
func (m *replicaMember) do(t *testing.T, addr, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-CSRF-Token", m.csrf)
	req.Header.Set("Origin", "http://"+addr)
	res, err := m.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", m.name, method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestReplicasShareRoomPresence: two members of one room on two replicas of one PostgreSQL
// database (nginx in front for sign-in, then each member's requests and socket straight to
// "their" replica). Ben's socket on B puts him in the snapshot Ana reads from A, on his
// image; Ana and Ben pressing "next" at once on A and B never get the same image; the object
// Ben prompts on B is locked for Ana on A; and when Ana removes Ben on A, his socket on B is
// closed at once. Last, B is killed while Cy is on an image there: Ana's socket on A is told
// that Cy left once B's connections lapse, and A's snapshot no longer lists Cy.
func TestReplicasShareRoomPresence(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	op := startProvider(t, nil) // queues Ana
	op.QueueUser(&mockoidc.MockUser{Subject: "ben-456", Email: "ben@example.com", PreferredUsername: "ben"})
	op.QueueUser(&mockoidc.MockUser{Subject: "cy-789", Email: "cy@example.com", PreferredUsername: "cy"})
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: ringEngine{}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	addrs := []string{freeAddr(t), freeAddr(t)}
	proxy := startNginx(t, addrs...)
	base := "http://" + proxy
	_, _, env := cdfModeEnv(t, op, cdfServer.URL)
	key := make([]byte, 32)
	rand.Read(key)
	env["LASSO_PUBLIC_URL"] = base
	env["LASSO_ALLOWED_HOSTS"] = strings.Join(addrs, ",")
	env["LASSO_DATABASE_URL"] = dbURL
	env["LASSO_SESSION_KEY"] = base64.StdEncoding.EncodeToString(key)
	replicas := []*appProcess{
		startAppProcess(t, addrs[0], t.TempDir(), env, writerArgs(time.Second, 0)...),
		startAppProcess(t, addrs[1], t.TempDir(), env, writerArgs(time.Second, 0)...),
	}
	logs := func() string {
		return fmt.Sprintf("--- replica A:\n%s\n--- replica B:\n%s", replicas[0].logs, replicas[1].logs)
	}
	csrfRe := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)
	signIn := func(name, id, path string) *replicaMember {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		m := &replicaMember{name: name, id: id, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
		res, err := m.client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		csrf := csrfRe.FindSubmatch(page)
		if res.StatusCode != http.StatusOK || csrf == nil {
			t.Fatalf("%s: %s through nginx: %d, CSRF token %q\n%s", name, path, res.StatusCode, csrf, logs())
		}
		m.csrf = string(csrf[1])
		return m
	}
	ana := signIn("Ana", "ana-123", "/rooms")
	res, err := ana.client.PostForm(base+"/rooms", url.Values{"name": {"Presence"}, "source": {"filter"}, "_csrf": {ana.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	roomID, ok := strings.CutPrefix(res.Request.URL.Path, "/rooms/")
	if res.StatusCode != http.StatusOK || !ok {
		t.Fatalf("create room: %d at %s", res.StatusCode, res.Request.URL)
	}
	ben := signIn("Ben", "ben-456", "/rooms/"+roomID+"/join")
	if code, body := ben.do(t, addrs[1], http.MethodPost, "/rooms/"+roomID+"/join", "application/x-www-form-urlencoded",
		url.Values{"_csrf": {ben.csrf}}.Encode()); code != http.StatusOK {
		t.Fatalf("Ben joins on B: %d %s", code, body)
	}
	var files []int64
	for _, f := range standIn.Files() {
		if strings.HasSuffix(f.Name, ".jpg") || strings.HasSuffix(f.Name, ".png") {
			files = append(files, f.ID)
		}
	}
	if len(files) < 4 {
		t.Fatalf("the samples hold %d images, want at least 4", len(files))
	}

	// Ben's socket on B, on the first image.
	dialer := websocket.Dialer{Jar: ben.client.Jar}
	sock, _, err := dialer.Dial(fmt.Sprintf("ws://%s/ws?room=room:%s&image=%d", addrs[1], roomID, files[0]), http.Header{"Origin": {"http://" + addrs[1]}})
	if err != nil {
		t.Fatalf("Ben's socket on B: %v\n%s", err, logs())
	}
	defer sock.Close()
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := sock.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()

	// Ana reads the snapshot from A: Ben is there, on the first image.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := ana.do(t, addrs[0], http.MethodGet, "/api/rooms/"+roomID+"/state", "", "")
		var snap struct {
			Presence []struct {
				UserID  string `json:"userId"`
				FileID  *int64 `json:"fileId"`
				Present bool   `json:"present"`
			} `json:"presence"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &snap) != nil {
			t.Fatalf("state from A: %d %s", code, body)
		}
		if len(snap.Presence) == 1 && snap.Presence[0].UserID == ben.id && snap.Presence[0].Present &&
			snap.Presence[0].FileID != nil && *snap.Presence[0].FileID == files[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's snapshot presence = %s, want Ben on image %d", body, files[0])
		}
		time.Sleep(100 * time.Millisecond)
	}

	// "Next" at once on both replicas, a few rounds: never the same image.
	for round := range 4 {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			got = map[int64]string{}
		)
		for i, m := range []*replicaMember{ana, ben} {
			wg.Go(func() {
				code, body := m.do(t, addrs[i], http.MethodPost, "/api/rooms/"+roomID+"/next", "application/json", `{}`)
				var next struct {
					FileID int64 `json:"fileId"`
				}
				if code != http.StatusOK || json.Unmarshal(body, &next) != nil {
					t.Errorf("round %d: %s's next: %d %s", round, m.name, code, body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if other, dup := got[next.FileID]; dup {
					t.Errorf("round %d: %s and %s both got image %d", round, other, m.name, next.FileID)
				}
				got[next.FileID] = m.name
			})
		}
		wg.Wait()
	}

	// Ben prompts on B; Ana's prompt of his object on A is refused as locked.
	promptPath := fmt.Sprintf("/api/rooms/%s/images/%d/objects/o1/prompt", roomID, files[0])
	prompt := func(version int) string {
		return fmt.Sprintf(`{"version":%d,"label":"thing","points":[{"x":0.5,"y":0.5,"label":1}]}`, version)
	}
	if code, body := ben.do(t, addrs[1], http.MethodPost, promptPath, "application/json", prompt(1)); code/100 != 2 {
		t.Fatalf("Ben's prompt on B: %d %s", code, body)
	}
	if code, body := ana.do(t, addrs[0], http.MethodPost, promptPath, "application/json", prompt(2)); code != http.StatusConflict || !strings.Contains(string(body), "is segmenting this") {
		t.Errorf("Ana's prompt on A of the object Ben is segmenting on B: %d %s, want 409 locked", code, body)
	}

	// Ana removes Ben on A: his socket on B ends.
	if code, body := ana.do(t, addrs[0], http.MethodPost, "/rooms/"+roomID+"/members/"+ben.id+"/remove", "application/x-www-form-urlencoded",
		url.Values{"_csrf": {ana.csrf}}.Encode()); code != http.StatusOK {
		t.Fatalf("Ana removes Ben on A: %d %s", code, body)
	}
	select {
	case err := <-closed:
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Errorf("Ben's socket on B ended with %v, want the close of a removed member (1008)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Ben's socket on B still open 10 s after his removal on A\n%s", logs())
	}

	// Cy is on an image through B, Ana follows the room on A; B dies.
	cy := signIn("Cy", "cy-789", "/rooms/"+roomID+"/join")
	if code, body := cy.do(t, addrs[0], http.MethodPost, "/rooms/"+roomID+"/join", "application/x-www-form-urlencoded",
		url.Values{"_csrf": {cy.csrf}}.Encode()); code != http.StatusOK {
		t.Fatalf("Cy joins on A: %d %s", code, body)
	}
	cySock, _, err := (&websocket.Dialer{Jar: cy.client.Jar}).Dial(fmt.Sprintf("ws://%s/ws?room=room:%s&image=%d", addrs[1], roomID, files[1]),
		http.Header{"Origin": {"http://" + addrs[1]}})
	if err != nil {
		t.Fatalf("Cy's socket on B: %v", err)
	}
	defer cySock.Close()
	anaSock, _, err := (&websocket.Dialer{Jar: ana.client.Jar}).Dial(fmt.Sprintf("ws://%s/ws?room=room:%s", addrs[0], roomID),
		http.Header{"Origin": {"http://" + addrs[0]}})
	if err != nil {
		t.Fatalf("Ana's socket on A: %v", err)
	}
	defer anaSock.Close()
	cyOnB := func() bool {
		code, body := ana.do(t, addrs[0], http.MethodGet, "/api/rooms/"+roomID+"/state", "", "")
		var snap struct {
			Presence []struct {
				UserID  string `json:"userId"`
				Present bool   `json:"present"`
			} `json:"presence"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &snap) != nil {
			t.Fatalf("state from A: %d %s", code, body)
		}
		return slices.ContainsFunc(snap.Presence, func(p struct {
			UserID  string `json:"userId"`
			Present bool   `json:"present"`
		}) bool {
			return p.UserID == cy.id && p.Present
		})
	}
	for deadline := time.Now().Add(10 * time.Second); !cyOnB(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("A's snapshot never listed Cy, on an image through B")
		}
	}
	killed := time.Now()
	replicas[1].kill()
	// Cy lapses 45 s after B's last renewal, found at A's next renewal (every 15 s): at most 60 s.
	anaSock.SetReadDeadline(killed.Add(120 * time.Second))
	for {
		_, msg, err := anaSock.ReadMessage()
		if err != nil {
			t.Fatalf("no presence event saying Cy left within 120 s of B's death: %v\n%s", err, logs())
		}
		var m struct {
			Type string
			Data struct {
				UserID  string `json:"userId"`
				Present bool   `json:"present"`
			}
		}
		if json.Unmarshal(msg, &m) == nil && m.Type == "member.presence" && m.Data.UserID == cy.id && !m.Data.Present {
			t.Logf("Cy seen leaving %v after B was killed", time.Since(killed).Round(time.Second))
			break
		}
	}
	if cyOnB() {
		t.Error("A's snapshot still lists Cy after the presence event said Cy left")
	}
}
