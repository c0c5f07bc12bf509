package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 120, 255})
		}
	}
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a.png": p.Bytes(), "sub/b.jpg": j.Bytes(), "sub/c.png": p.Bytes(), "notes.txt": []byte("not an image\n")}
	for name, b := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs the command on a free loopback port and returns its base URL; the command is
// stopped (and its error checked) when the test ends.
func start(t *testing.T, args ...string) string {
	t.Helper()
	base, _ := startOutput(t, args...)
	return base
}

// startOutput is start that also returns what the command printed when it began serving.
func startOutput(t *testing.T, args ...string) (base, printed string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10 s of cancellation")
		}
	})
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout.String()
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no base URL printed; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return "", ""
}

func TestRunServesAndStops(t *testing.T) {
	base := start(t, "-images", writeImages(t), "-project", "demo-proj", "-token", "secret")
	get := func(tok string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/token/inspect", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d, want 401", resp.StatusCode)
	}
	resp := get("secret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token inspect: status %d", resp.StatusCode)
	}
	var ti struct {
		Projects []struct {
			ProjectURLName string `json:"projectUrlName"`
		} `json:"projects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ti); err != nil || len(ti.Projects) != 1 || ti.Projects[0].ProjectURLName != "demo-proj" {
		t.Errorf("token inspect: %+v, %v", ti, err)
	}
}

func TestRunKeepsAnnotationsInDataFolder(t *testing.T) {
	images, data := writeImages(t), t.TempDir()
	call := func(base, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/projects/p/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	var fileID int64
	t.Run("first run creates", func(t *testing.T) {
		base := start(t, "-images", images, "-data", data, "-project", "p")
		_, body := call(base, "files/byids", `{"items":[{"externalId":"a.png"}]}`)
		var files struct{ Items []struct{ ID int64 } }
		if err := json.Unmarshal([]byte(body), &files); err != nil || len(files.Items) != 1 {
			t.Fatalf("byids: %s", body)
		}
		fileID = files.Items[0].ID
		st, body := call(base, "annotations", `{"items":[{"annotatedResourceType":"file","annotatedResourceId":`+strconv.FormatInt(fileID, 10)+
			`,"annotationType":"images.Classification","creatingApp":"t","creatingAppVersion":"1.0.0","creatingUser":null,"status":"approved","data":{"label":"cat"}}]}`)
		if st != http.StatusCreated {
			t.Fatalf("create: %d %s", st, body)
		}
	})
	t.Run("second run lists", func(t *testing.T) {
		base := start(t, "-images", images, "-data", data, "-project", "p")
		st, body := call(base, "annotations/list", `{"filter":{"annotatedResourceType":"file","annotatedResourceIds":[{"id":`+strconv.FormatInt(fileID, 10)+`}]}}`)
		if st != http.StatusOK || !strings.Contains(body, `"label":"cat"`) {
			t.Errorf("list after a restart: %d %s", st, body)
		}
	})
}

func TestRunFlagErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-images"}, {"-images", "/does/not/exist"}, {"-images", ".", "extra"}, {"-nope"}} {
		var out, errw bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errw); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
	images := writeImages(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // in the error
	}{
		{[]string{"-images", images, "-vision", "off"}, nil, "on, retired-404, retired-410, retired-403"},
		{[]string{"-images", images, "-oidc", "-token", "x"}, nil, "-oidc and -token"},
		{[]string{"-images", images, "-oidc"}, map[string]string{"CDFLOCAL_TOKEN": "x"}, "-oidc and -token"},
		{[]string{"-images", images, "-oidc", "-oidc-addr", "0.0.0.0:0"}, nil, "loopback"},
	} {
		var out, errw bytes.Buffer
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), func(k string) string { return tc.env[k] }, &out, &errw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q (env %v): error %v, want one mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestRunVisionRetired(t *testing.T) {
	base := start(t, "-images", writeImages(t), "-project", "p", "-vision", "retired-410")
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/api/v1/projects/p/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("cdf-version", "beta")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := call("POST", "context/vision/segment", `{"items":[{"fileExternalId":"a.png"}],"points":[{"x":0.5,"y":0.5,"label":1}]}`)
	want := `{"error":{"code":410,"message":"The vision segment endpoint was retired on 2027-02-17 and is no longer available"}}`
	if st != http.StatusGone || strings.TrimSpace(body) != want {
		t.Errorf("POST segment: %d %s, want 410 %s", st, body, want)
	}
	if st, body := call("POST", "files/list", "{}"); st != http.StatusOK {
		t.Errorf("files/list while the vision API is retired: %d %s", st, body)
	}
}

// oidcEnv parses the KEY=value lines the command printed.
func oidcEnv(t *testing.T, printed string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+)=(\S+)$`).FindAllStringSubmatch(printed, -1) {
		env[m[1]] = m[2]
	}
	for _, k := range []string{"CDF_BASE_URL", "CDF_PROJECT", "LASSO_OIDC_ISSUER", "LASSO_OIDC_CLIENT_ID", "LASSO_OIDC_CLIENT_SECRET", "LASSO_PUBLIC_URL"} {
		if env[k] == "" {
			t.Fatalf("no %s line printed:\n%s", k, printed)
		}
	}
	return env
}

// signIn gets tokens from the provider by the authorization-code flow with PKCE, as a
// browser and Lasso would, asking for Lasso's default scopes.
func signIn(t *testing.T, env map[string]string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	res, err := http.Get(env["LASSO_OIDC_ISSUER"] + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer   string `json:"issuer"`
		AuthURL  string `json:"authorization_endpoint"`
		TokenURL string `json:"token_endpoint"`
	}
	err = json.NewDecoder(res.Body).Decode(&disc)
	res.Body.Close()
	if err != nil || disc.Issuer != env["LASSO_OIDC_ISSUER"] {
		t.Fatalf("discovery: %+v, %v", disc, err)
	}
	cdfURL := env["CDF_BASE_URL"]
	conf := &oauth2.Config{
		ClientID: env["LASSO_OIDC_CLIENT_ID"], ClientSecret: env["LASSO_OIDC_CLIENT_SECRET"],
		// mockoidc reads the client's id and secret from the form, not from basic auth.
		Endpoint:    oauth2.Endpoint{AuthURL: disc.AuthURL, TokenURL: disc.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: env["LASSO_PUBLIC_URL"] + "/auth/callback", // not listening: the client stops there
		Scopes:      []string{"openid", "profile", "offline_access", cdfURL + "/user_impersonation", cdfURL + "/IDENTITY"},
	}
	verifier := oauth2.GenerateVerifier()
	browser := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), conf.RedirectURL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err = browser.Get(conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-1")))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc, err := res.Location()
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %d %s (no form expected, only a redirect)", res.StatusCode, page)
	}
	if loc.Query().Get("state") != "state-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirected to %s", loc)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return conf, tok
}

func TestRunOIDC(t *testing.T) {
	base, printed := startOutput(t, "-images", writeImages(t), "-project", "demo", "-oidc")
	env := oidcEnv(t, printed)
	if env["CDF_BASE_URL"] != base || env["CDF_PROJECT"] != "demo" || env["LASSO_PUBLIC_URL"] != "http://127.0.0.1:8080" ||
		!regexp.MustCompile(`^http://127\.0\.0\.1:\d+/oidc$`).MatchString(env["LASSO_OIDC_ISSUER"]) {
		t.Errorf("environment lines: %v", env)
	}
	for _, k := range []string{"LASSO_OIDC_ISSUER", "LASSO_OIDC_CLIENT_ID", "LASSO_OIDC_CLIENT_SECRET"} {
		if !strings.Contains(printed, ": "+env[k]) {
			t.Errorf("%s is not also printed on a line of its own:\n%s", k, printed)
		}
	}

	conf, tok := signIn(t, env)
	if left := time.Until(tok.Expiry); left < 5*time.Minute || left > 11*time.Minute {
		t.Errorf("access token expires in %v: expires_in is not in seconds", left)
	}
	filesList := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/projects/demo/files/list", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := filesList(tok.AccessToken); st != http.StatusOK || !strings.Contains(body, `"a.png"`) {
		t.Errorf("files/list with the provider's access token: %d %s", st, body)
	}

	// A refreshed access token is accepted too (Lasso refreshes before expiry).
	refreshed, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if st, body := filesList(refreshed.AccessToken); st != http.StatusOK {
		t.Errorf("files/list with a refreshed access token: %d %s", st, body)
	}

	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token")
	}
	for name, bad := range map[string]string{
		"made up":                    "not-a-token",
		"malformed JWT":              "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		"tampered signature":         tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA",
		"ID token":                   idToken,
		"refresh token":              tok.RefreshToken,
		"signed with mockoidc's key": forgeToken(t, env),
	} {
		st, body := filesList(bad)
		if st != http.StatusUnauthorized || !strings.Contains(body, `"code":401`) {
			t.Errorf("%s: %d %s, want 401", name, st, body)
		}
	}
}

// forgeToken signs an access token's claims with mockoidc's published default key, as any
// other mockoidc could: the stand-in must not accept it.
func forgeToken(t *testing.T, env map[string]string) string {
	t.Helper()
	kp, err := mockoidc.DefaultKeypair()
	if err != nil {
		t.Fatal(err)
	}
	kid, err := kp.KeyID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + enc(map[string]any{
		"iss": env["LASSO_OIDC_ISSUER"], "aud": []string{env["LASSO_OIDC_CLIENT_ID"]}, "sub": "1234567890",
		"iat": now, "nbf": now, "exp": now + 600, "jti": "forged"})
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, kp.PrivateKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestOIDCAuthenticate checks what the signature and the expiry add to "handed out by the
// provider": a token signed with mockoidc's published key is refused even if it had been
// handed out, and an access token is refused once the clock passes its expiry.
func TestOIDCAuthenticate(t *testing.T) {
	op, err := startOIDC("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.shutdown)
	var b strings.Builder
	op.describe(&b, "http://127.0.0.1:1", "p")
	_, tok := signIn(t, oidcEnv(t, b.String()))
	ctx := context.Background()
	if err := op.authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatalf("fresh access token: %v", err)
	}
	forged := forgeToken(t, oidcEnv(t, b.String()))
	op.record(forged, time.Now().Add(time.Minute))
	if err := op.authenticate(ctx, forged); err == nil {
		t.Error("token signed with mockoidc's default key accepted")
	}
	op.now = func() time.Time { return time.Now().Add(op.m.AccessTTL + time.Second) }
	if err := op.authenticate(ctx, tok.AccessToken); err == nil {
		t.Error("expired access token accepted")
	}
}

// TestCogniteSDKCompat runs the official JS client (@cognite/sdk, pinned in
// cdf/cdflocal/testdata/sdkcompat) against the stand-in. It fails, not skips, without Node or
// the installed packages.
func TestCogniteSDKCompat(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "cdf", "cdflocal", "testdata", "sdkcompat")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (the @cognite/sdk compatibility check needs Node.js 18+); install it, then run: npm ci --prefix cdf/cdflocal/testdata/sdkcompat")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cognite", "sdk", "package.json")); err != nil {
		t.Fatalf("@cognite/sdk is not installed in %s; run: npm ci --prefix cdf/cdflocal/testdata/sdkcompat", dir)
	}
	base := start(t, "-images", writeImages(t), "-data", t.TempDir(), "-project", "sdk-compat", "-token", "compat-token")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "compat.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CDF_BASE_URL="+base, "CDF_PROJECT=sdk-compat", "CDF_TOKEN=compat-token", "CDF_EXPECT_FILES=4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node compat.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "checks passed") {
		t.Fatalf("node compat.mjs: unexpected output:\n%s", out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}
