package cdflocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
)

func externalIDs(fs []cdf.File) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ExternalID)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestFilesList(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.DataSetID = 77; c.DataSetExternalID = "ds" }})
	ctx := context.Background()
	all := []string{"broken.png", "notes.txt", "photos/alpha.png", "photos/deep/tiny.jpeg", "photos/small.jpg", "wide.png"}
	tests := []struct {
		name   string
		filter cdf.FileFilter
		want   []string
	}{
		{"all, hidden files skipped", cdf.FileFilter{}, all},
		{"name exact", cdf.FileFilter{Name: "small.jpg"}, []string{"photos/small.jpg"}},
		{"name is not a prefix", cdf.FileFilter{Name: "small"}, []string{}},
		{"directoryPrefix", cdf.FileFilter{DirectoryPrefix: "/photos"}, []string{"photos/alpha.png", "photos/deep/tiny.jpeg", "photos/small.jpg"}},
		{"directoryPrefix deep", cdf.FileFilter{DirectoryPrefix: "/photos/deep"}, []string{"photos/deep/tiny.jpeg"}},
		{"directoryPrefix is case-sensitive", cdf.FileFilter{DirectoryPrefix: "/Photos"}, []string{}},
		{"mimeType png", cdf.FileFilter{MimeType: "image/png"}, []string{"broken.png", "photos/alpha.png", "wide.png"}},
		{"mimeType jpeg", cdf.FileFilter{MimeType: "image/jpeg"}, []string{"photos/deep/tiny.jpeg", "photos/small.jpg"}},
		{"mimeType text", cdf.FileFilter{MimeType: "text/plain"}, []string{"notes.txt"}},
		{"externalIdPrefix", cdf.FileFilter{ExternalIDPrefix: "photos/d"}, []string{"photos/deep/tiny.jpeg"}},
		{"uploaded", cdf.FileFilter{Uploaded: ptr(true)}, all},
		{"not uploaded", cdf.FileFilter{Uploaded: ptr(false)}, []string{}},
		{"dataSetIds id", cdf.FileFilter{DataSetIDs: []cdf.Identifier{{ID: 77}}}, all},
		{"dataSetIds externalId", cdf.FileFilter{DataSetIDs: []cdf.Identifier{{ExternalID: "ds"}}}, all},
		{"dataSetIds other", cdf.FileFilter{DataSetIDs: []cdf.Identifier{{ID: 78}}}, []string{}},
		{"combined", cdf.FileFilter{DirectoryPrefix: "/photos", MimeType: "image/png"}, []string{"photos/alpha.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.c.Files.List(ctx, tt.filter, cdf.ListOptions{})
			must(t, err)
			if diff := cmp.Diff(tt.want, externalIDs(page.Items)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if page.NextCursor != "" {
				t.Errorf("nextCursor %q on the only page", page.NextCursor)
			}
		})
	}

	t.Run("metadata", func(t *testing.T) {
		page, err := e.c.Files.List(ctx, cdf.FileFilter{Name: "small.jpg"}, cdf.ListOptions{})
		must(t, err)
		f := page.Items[0]
		info, err := os.Stat(filepath.Join(e.dir, "photos", "small.jpg"))
		must(t, err)
		ms := info.ModTime().UnixMilli()
		want := cdf.File{ID: e.id("photos/small.jpg"), ExternalID: "photos/small.jpg", Name: "small.jpg", Directory: "/photos",
			MimeType: "image/jpeg", DataSetID: 77, Uploaded: true, UploadedTime: ms, CreatedTime: ms, LastUpdatedTime: ms,
			Metadata: map[string]string{"bytes": strconv.FormatInt(info.Size(), 10), "width": "32", "height": "48"}}
		if diff := cmp.Diff(want, f); diff != "" {
			t.Errorf("file (-want +got):\n%s", diff)
		}
		root, err := e.c.Files.List(ctx, cdf.FileFilter{Name: "wide.png"}, cdf.ListOptions{})
		must(t, err)
		if root.Items[0].Directory != "/" {
			t.Errorf("root directory %q, want /", root.Items[0].Directory)
		}
	})

	t.Run("paging", func(t *testing.T) {
		var got []string
		cursor := ""
		pages := 0
		for {
			page, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{Limit: 4, Cursor: cursor})
			must(t, err)
			pages++
			got = append(got, externalIDs(page.Items)...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if pages != 2 {
			t.Errorf("%d pages, want 2", pages)
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("paged files (-want +got):\n%s", diff)
		}
	})

	t.Run("errors", func(t *testing.T) {
		first, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{Limit: 2})
		must(t, err)
		cases := []struct {
			name   string
			filter cdf.FileFilter
			opts   cdf.ListOptions
		}{
			{"limit too large", cdf.FileFilter{}, cdf.ListOptions{Limit: 1001}},
			{"negative limit", cdf.FileFilter{}, cdf.ListOptions{Limit: -1}},
			{"garbage cursor", cdf.FileFilter{}, cdf.ListOptions{Cursor: "not-a-cursor"}},
			{"cursor with another filter", cdf.FileFilter{MimeType: "image/png"}, cdf.ListOptions{Limit: 2, Cursor: first.NextCursor}},
			{"cursor with another limit", cdf.FileFilter{}, cdf.ListOptions{Limit: 3, Cursor: first.NextCursor}},
			{"dataSetIds with both forms", cdf.FileFilter{DataSetIDs: []cdf.Identifier{{ID: 1, ExternalID: "x"}}}, cdf.ListOptions{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.c.Files.List(ctx, c.filter, c.opts)
				apiError(t, err, http.StatusBadRequest)
			})
		}
	})

	t.Run("limits as raw JSON", func(t *testing.T) {
		for body, want := range map[string]int{
			`{"limit":0}`:                          400,
			`{"limit":1000}`:                       200,
			`{"limit":1}`:                          200,
			`{}`:                                   200,
			`{"filter":{"unknownField":1}}`:        400,
			`{"filter":{"metadata":{"k":"v"}}}`:    200,
			`{"partition":"1/2"}`:                  200,
			`{"partition":"3/2"}`:                  400,
			`{"limit":"ten"}`:                      400,
			`{"limit":1`:                           400,
			`{"cursor":null,"filter":{},"x":true}`: 400,
		} {
			status, _, b := e.raw("POST", "/api/v1/projects/"+testProject+"/files/list", body)
			if status != want {
				t.Errorf("%s: status %d, want %d: %s", body, status, want, b)
			}
		}
		status, _, b := e.raw("POST", "/api/v1/projects/"+testProject+"/files/list", `{"filter":{"metadata":{"k":"v"}}}`)
		if status != 200 || !strings.Contains(string(b), `"items":[]`) {
			t.Errorf("metadata filter: %d %s, want no items", status, b)
		}
	})
}

func TestFilesSearch(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	tests := []struct {
		name   string
		filter cdf.FileFilter
		q      string
		limit  int
		want   []string
	}{
		{"prefix", cdf.FileFilter{}, "sma", 0, []string{"photos/small.jpg"}},
		{"case-insensitive substring", cdf.FileFilter{}, "PNG", 0, []string{"broken.png", "photos/alpha.png", "wide.png"}},
		{"exact first", cdf.FileFilter{}, "wide.png", 0, []string{"wide.png"}},
		{"with filter", cdf.FileFilter{DirectoryPrefix: "/photos"}, "png", 0, []string{"photos/alpha.png"}},
		{"limit", cdf.FileFilter{}, "png", 2, []string{"broken.png", "photos/alpha.png"}},
		{"no query filters only", cdf.FileFilter{MimeType: "image/jpeg"}, "", 0, []string{"photos/deep/tiny.jpeg", "photos/small.jpg"}},
		{"no match", cdf.FileFilter{}, "zebra", 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.c.Files.Search(ctx, tt.filter, tt.q, tt.limit)
			must(t, err)
			if diff := cmp.Diff(tt.want, externalIDs(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := e.c.Files.Search(ctx, cdf.FileFilter{}, "x", 1001)
	apiError(t, err, http.StatusBadRequest)
}

func TestFilesByIDsAndRetrieve(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.InstanceSpace = "lasso" }})
	ctx := context.Background()
	small, wide := e.id("photos/small.jpg"), e.id("wide.png")

	got, err := e.c.Files.ByIDs(ctx, []cdf.Identifier{{ID: wide}, {ExternalID: "notes.txt"}, {InstanceID: &cdf.InstanceID{Space: "lasso", ExternalID: "photos/small.jpg"}}}, false)
	must(t, err)
	if diff := cmp.Diff([]string{"wide.png", "notes.txt", "photos/small.jpg"}, externalIDs(got)); diff != "" {
		t.Errorf("request order (-want +got):\n%s", diff)
	}
	if got[2].InstanceID == nil || *got[2].InstanceID != (cdf.InstanceID{Space: "lasso", ExternalID: "photos/small.jpg"}) {
		t.Errorf("instanceId %+v", got[2].InstanceID)
	}

	got, err = e.c.Files.ByIDs(ctx, []cdf.Identifier{{ID: 12345}, {ID: small}, {ExternalID: "nope"}}, true)
	must(t, err)
	if diff := cmp.Diff([]string{"photos/small.jpg"}, externalIDs(got)); diff != "" {
		t.Errorf("ignoreUnknownIds (-want +got):\n%s", diff)
	}

	_, err = e.c.Files.ByIDs(ctx, []cdf.Identifier{{ID: 12345}, {ID: small}, {ExternalID: "nope"}, {InstanceID: &cdf.InstanceID{Space: "x", ExternalID: "y"}}}, false)
	ae := apiError(t, err, http.StatusBadRequest)
	wantMissing := []cdf.Identifier{{ID: 12345}, {ExternalID: "nope"}, {InstanceID: &cdf.InstanceID{Space: "x", ExternalID: "y"}}}
	if diff := cmp.Diff(wantMissing, ae.MissingIdentifiers()); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	if !strings.Contains(ae.Error(), "X-Request-ID: "+ae.RequestID) || !strings.Contains(ae.Error(), "12345") {
		t.Errorf("Error() = %q: want the request id and the missing id", ae.Error())
	}

	_, err = e.c.Files.ByIDs(ctx, []cdf.Identifier{{ID: small}, {ExternalID: "wide.png"}, {ID: small}}, false)
	ae = apiError(t, err, http.StatusBadRequest)
	if diff := cmp.Diff([]cdf.Identifier{{ID: small}}, ae.DuplicatedIdentifiers()); diff != "" {
		t.Errorf("duplicated (-want +got):\n%s", diff)
	}

	many := make([]cdf.Identifier, 1001)
	for i := range many {
		many[i] = cdf.ID(int64(i + 1))
	}
	for name, ids := range map[string][]cdf.Identifier{
		"no items":        {},
		"1001 items":      many,
		"empty item":      {{}},
		"two forms":       {{ID: small, ExternalID: "wide.png"}},
		"id above 2^53-1": {{ID: 1 << 53}},
	} {
		_, err := e.c.Files.ByIDs(ctx, ids, true)
		if cdf.StatusCode(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}

	f, err := e.c.Files.Retrieve(ctx, small)
	must(t, err)
	if f.ExternalID != "photos/small.jpg" || f.ID != small {
		t.Errorf("retrieve: %+v", f)
	}
	_, err = e.c.Files.Retrieve(ctx, 424242)
	ae = apiError(t, err, http.StatusBadRequest)
	if diff := cmp.Diff([]cdf.Identifier{{ID: 424242}}, ae.MissingIdentifiers()); diff != "" {
		t.Errorf("retrieve missing (-want +got):\n%s", diff)
	}
	if status, _, _ := e.raw("GET", "/api/v1/projects/"+testProject+"/files/abc", ""); status != 400 {
		t.Errorf("GET /files/abc: %d, want 400", status)
	}
}

func TestFileIDsStableAcrossServers(t *testing.T) {
	dir := writeFiles(t, testFiles(t))
	ids := func() map[string]int64 {
		srv, err := cdflocal.New(cdflocal.Config{ImagesDir: dir})
		must(t, err)
		defer srv.Close()
		m := map[string]int64{}
		for _, f := range srv.Files() {
			if f.ID <= 0 || f.ID >= 1<<53 {
				t.Errorf("%s: id %d outside 1..2^53-1", f.ExternalID, f.ID)
			}
			m[f.ExternalID] = f.ID
		}
		return m
	}
	first, second := ids(), ids()
	if len(first) != 6 {
		t.Errorf("%d files, want 6", len(first))
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("ids changed across restarts (-first +second):\n%s", diff)
	}
	// Adding a file leaves the others' ids alone.
	must(t, os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644))
	third := ids()
	delete(third, "new.txt")
	if diff := cmp.Diff(first, third); diff != "" {
		t.Errorf("ids changed after adding a file (-first +third):\n%s", diff)
	}
}

func TestDownload(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	want, err := os.ReadFile(filepath.Join(e.dir, "photos", "small.jpg"))
	must(t, err)

	rc, ctype, err := e.c.Files.Download(ctx, cdf.Identifier{ExternalID: "photos/small.jpg"})
	must(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	if !bytes.Equal(got, want) || ctype != "image/jpeg" {
		t.Errorf("download: %d bytes of %s, want %d bytes of image/jpeg", len(got), ctype, len(want))
	}
	if len(e.download.reqs) != 1 {
		t.Fatalf("download client sent %d requests, want 1", len(e.download.reqs))
	}
	if h := e.download.reqs[0].Header.Get("Authorization"); h != "" {
		t.Errorf("download request carried Authorization %q: the bearer must not reach the storage host", h)
	}

	t.Run("links echo the identifier form", func(t *testing.T) {
		links, err := e.c.Files.DownloadLinks(ctx, []cdf.Identifier{{ID: e.id("wide.png")}, {ExternalID: "notes.txt"}}, false)
		must(t, err)
		if len(links) != 2 || links[0].ID != e.id("wide.png") || links[0].ExternalID != "" || links[1].ExternalID != "notes.txt" || links[1].ID != 0 {
			t.Errorf("links %+v", links)
		}
		status, hdr, body := get(t, links[1].DownloadURL)
		if status != 200 || hdr.Get("Content-Type") != "text/plain" || string(body) != "not an image\n" {
			t.Errorf("text download: %d %s %q", status, hdr.Get("Content-Type"), body)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		short, err := e.c.Files.DownloadLinks(ctx, []cdf.Identifier{{ID: e.id("wide.png")}}, false)
		must(t, err)
		long, err := e.c.Files.DownloadLinks(ctx, []cdf.Identifier{{ID: e.id("wide.png")}}, true)
		must(t, err)
		e.clock.Add(29 * time.Second)
		if status, _, _ := get(t, short[0].DownloadURL); status != 200 {
			t.Errorf("short link after 29 s: %d, want 200", status)
		}
		e.clock.Add(2 * time.Second)
		status, hdr, body := get(t, short[0].DownloadURL)
		if status != 403 || hdr.Get("x-request-id") == "" || !strings.Contains(string(body), `"code":403`) {
			t.Errorf("short link after 31 s: %d %s, want 403 envelope", status, body)
		}
		if status, _, _ := get(t, long[0].DownloadURL); status != 200 {
			t.Errorf("extended link after 31 s: %d, want 200", status)
		}
		e.clock.Add(time.Hour)
		if status, _, _ := get(t, long[0].DownloadURL); status != 403 {
			t.Errorf("extended link after 1 h: %d, want 403", status)
		}
		_, _, err = e.c.Files.Download(ctx, cdf.ID(e.id("wide.png")))
		must(t, err) // a fresh link works again
	})

	t.Run("tampered links", func(t *testing.T) {
		links, err := e.c.Files.DownloadLinks(ctx, []cdf.Identifier{{ID: e.id("wide.png")}}, false)
		must(t, err)
		u := links[0].DownloadURL
		for _, bad := range []string{
			strings.Replace(u, "signature=", "signature=0", 1),
			strings.Replace(u, fmt.Sprint(e.id("wide.png")), fmt.Sprint(e.id("notes.txt")), 1),
			strings.Replace(u, "expires=", "expires=9", 1),
		} {
			if status, _, _ := get(t, bad); status != 403 {
				t.Errorf("%s: %d, want 403", bad, status)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		many := make([]cdf.Identifier, 101)
		for i := range many {
			many[i] = cdf.ID(int64(i + 1))
		}
		_, err := e.c.Files.DownloadLinks(ctx, many, false)
		apiError(t, err, 400)
		_, err = e.c.Files.DownloadLinks(ctx, nil, false)
		apiError(t, err, 400)
		_, err = e.c.Files.DownloadLinks(ctx, []cdf.Identifier{{ID: 999}}, false)
		ae := apiError(t, err, 400)
		if diff := cmp.Diff([]cdf.Identifier{{ID: 999}}, ae.MissingIdentifiers()); diff != "" {
			t.Errorf("missing (-want +got):\n%s", diff)
		}
		_, _, err = e.c.Files.Download(ctx, cdf.Identifier{ExternalID: "nope"})
		apiError(t, err, 400)
		if status, _, _ := e.raw("POST", "/api/v1/projects/"+testProject+"/files/downloadlink?extendedExpiration=maybe", `{"items":[{"id":1}]}`); status != 400 {
			t.Errorf("bad extendedExpiration: %d, want 400", status)
		}
	})

	t.Run("size cap", func(t *testing.T) {
		c := cdf.New(e.ts.URL, testProject, &http.Client{Transport: authTransport{token: testToken, base: http.DefaultTransport}}, cdf.WithMaxDownloadBytes(10))
		_, _, err := c.Files.Download(ctx, cdf.Identifier{ExternalID: "photos/small.jpg"})
		if err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("download over the cap: %v, want ErrResponseTooLarge", err)
		}
	})
}

func get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, resp.Header, b
}

func TestIcon(t *testing.T) {
	e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.InstanceSpace = "sp" }})
	ctx := context.Background()
	for _, tt := range []struct {
		id   cdf.Identifier
		w, h int
	}{
		{cdf.ID(e.id("wide.png")), 256, 128},
		{cdf.Identifier{ExternalID: "photos/small.jpg"}, 32, 48}, // small images are not enlarged
		{cdf.Identifier{InstanceID: &cdf.InstanceID{Space: "sp", ExternalID: "photos/alpha.png"}}, 32, 48},
	} {
		rc, ctype, err := e.c.Files.Icon(ctx, tt.id)
		must(t, err)
		img, err := jpeg.Decode(rc)
		rc.Close()
		must(t, err)
		if ctype != "image/jpeg" || img.Bounds() != image.Rect(0, 0, tt.w, tt.h) {
			t.Errorf("icon %+v: %s %v, want image/jpeg %dx%d", tt.id, ctype, img.Bounds(), tt.w, tt.h)
		}
	}
	// Cached: the same bytes again.
	a, _, err := e.c.Files.Icon(ctx, cdf.ID(e.id("wide.png")))
	must(t, err)
	b, _, err := e.c.Files.Icon(ctx, cdf.ID(e.id("wide.png")))
	must(t, err)
	ab, _ := io.ReadAll(a)
	bb, _ := io.ReadAll(b)
	if !bytes.Equal(ab, bb) {
		t.Error("icon bytes differ between calls")
	}

	for _, id := range []cdf.Identifier{{ExternalID: "notes.txt"}, {ExternalID: "broken.png"}, {ID: 5}} {
		_, _, err := e.c.Files.Icon(ctx, id)
		apiError(t, err, 400)
	}
	base := "/api/v1/projects/" + testProject + "/files/icon"
	for _, q := range []string{"", "?id=abc", "?id=1&externalId=wide.png", "?space=sp", "?instanceExternalId=x", fmt.Sprintf("?id=%d&externalId=wide.png", e.id("wide.png"))} {
		status, hdr, body := e.raw("GET", base+q, "")
		if status != 400 || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("icon%s: %d %s, want 400 JSON", q, status, body)
		}
	}
}

func TestAuthProjectAndCapabilities(t *testing.T) {
	ctx := context.Background()
	t.Run("no bearer", func(t *testing.T) {
		e := setup(t, setupOpts{noToken: true})
		_, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
		apiError(t, err, 401)
		_, err = e.c.Token.Inspect(ctx)
		apiError(t, err, 401)
	})
	t.Run("wrong token", func(t *testing.T) {
		e := setup(t, setupOpts{token: "other"})
		_, err := e.c.Files.Retrieve(ctx, 1)
		apiError(t, err, 401)
	})
	t.Run("any bearer when no token is configured", func(t *testing.T) {
		e := setup(t, setupOpts{token: "whatever", cfg: func(c *cdflocal.Config) { c.Token = "" }})
		_, err := e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
		must(t, err)
		if status, _, _ := e.raw("GET", "/api/v1/token/inspect", "", "Authorization", "Basic abc"); status != 401 {
			t.Errorf("basic auth: %d, want 401", status)
		}
	})
	t.Run("other project", func(t *testing.T) {
		e := setup(t, setupOpts{})
		c := cdf.New(e.ts.URL, "someone-else", &http.Client{Transport: authTransport{token: testToken, base: http.DefaultTransport}})
		_, err := c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
		apiError(t, err, 403)
		_, err = c.Vision.SegmentJob(ctx, 1)
		apiError(t, err, 403)
	})
	t.Run("token inspect", func(t *testing.T) {
		e := setup(t, setupOpts{})
		ti, err := e.c.Token.Inspect(ctx)
		must(t, err)
		if ti.Subject == "" || len(ti.Projects) != 1 || ti.Projects[0].ProjectURLName != testProject {
			t.Errorf("inspect: %+v", ti)
		}
		for _, c := range []struct {
			acl, action string
			want        bool
		}{
			{"filesAcl", "READ", true}, {"annotationsAcl", "WRITE", true}, {"annotationsAcl", "SUGGEST", true},
			{"annotationsAcl", "REVIEW", true}, {"filesAcl", "WRITE", false}, {"assetsAcl", "READ", false},
		} {
			if got := ti.HasCapability(c.acl, c.action, testProject); got != c.want {
				t.Errorf("HasCapability(%s, %s) = %v, want %v", c.acl, c.action, got, c.want)
			}
		}
		if ti.HasCapability("filesAcl", "READ", "other") {
			t.Error("filesAcl:READ granted in another project")
		}
	})
	t.Run("stripped capabilities", func(t *testing.T) {
		id := cdflocal.DefaultIdentity()
		id.Capabilities = id.Capabilities[1:] // drop filesAcl
		e := setup(t, setupOpts{cfg: func(c *cdflocal.Config) { c.Identity = &id }})
		ti, err := e.c.Token.Inspect(ctx)
		must(t, err)
		if ti.HasCapability("filesAcl", "READ", testProject) {
			t.Error("stripped filesAcl still reported")
		}
		_, err = e.c.Files.List(ctx, cdf.FileFilter{}, cdf.ListOptions{})
		apiError(t, err, 403)
		_, _, err = e.c.Files.Icon(ctx, cdf.ID(e.id("wide.png")))
		apiError(t, err, 403)
		_, err = e.c.Vision.StartSegment(ctx, cdf.SegmentRequest{Items: []cdf.FileReference{{FileID: e.id("wide.png")}}, Points: []cdf.SegmentPoint{{X: .5, Y: .5, Label: 1}}})
		apiError(t, err, 403)
	})
}

// TestRequestIDAndEnvelopeEverywhere checks x-request-id on every kind of response, and
// that every error is CDF's envelope with status = code.
func TestRequestIDAndEnvelopeEverywhere(t *testing.T) {
	e := setup(t, setupOpts{})
	links, err := e.c.Files.DownloadLinks(context.Background(), []cdf.Identifier{cdf.ID(e.id("wide.png"))}, false)
	must(t, err)
	p := "/api/v1/projects/" + testProject
	wide := fmt.Sprint(e.id("wide.png"))
	cases := []struct {
		method, path, body string
		headers            []string
		status             int
	}{
		{"POST", p + "/files/list", `{}`, nil, 200},
		{"POST", p + "/files/search", `{"search":{"name":"x"}}`, nil, 200},
		{"POST", p + "/files/byids", `{"items":[{"id":` + wide + `}]}`, nil, 200},
		{"GET", p + "/files/" + wide, "", nil, 200},
		{"GET", p + "/files/icon?id=" + wide, "", nil, 200},
		{"GET", "/api/v1/token/inspect", "", nil, 200},
		{"GET", strings.TrimPrefix(links[0].DownloadURL, e.ts.URL), "", []string{"Authorization", ""}, 200},
		{"GET", p + "/files/list", "", nil, 405},
		{"DELETE", p + "/files/" + wide, "", nil, 405},
		{"POST", p + "/files/nothing/here", `{}`, nil, 404},
		{"GET", "/elsewhere", "", nil, 404},
		{"GET", "/api/v1/projects/" + testProject + "/assets", "", nil, 404},
		{"POST", p + "/files/list", `{}`, []string{"Authorization", ""}, 401},
		{"POST", p + "/files/list", `{}`, []string{"Content-Type", "text/plain"}, 415},
		{"POST", p + "/files/list", `{"filter":` + strings.Repeat(" ", 5<<20) + `{}}`, nil, 413},
		{"POST", "/api/v1/projects/other/files/list", `{}`, nil, 403},
		{"POST", p + "/context/vision/segment", `{}`, nil, 400},
		{"GET", p + "/context/vision/segment/1", "", []string{"cdf-version", "beta"}, 400},
		{"GET", p + "/cdflocal/download/1?expires=1&signature=x", "", nil, 404},
		{"GET", "/cdflocal/download/1?expires=1&signature=x", "", nil, 403},
	}
	for _, c := range cases {
		status, hdr, body := e.raw(c.method, c.path, c.body, c.headers...)
		name := c.method + " " + c.path
		if len(name) > 90 {
			name = name[:90]
		}
		if status != c.status {
			t.Errorf("%s: status %d, want %d: %.200s", name, status, c.status, body)
		}
		if len(hdr.Get("x-request-id")) < 8 {
			t.Errorf("%s: x-request-id %q", name, hdr.Get("x-request-id"))
		}
		if hdr.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After set; CDF never sends it", name)
		}
		if status >= 400 {
			var env struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != status || env.Error.Message == "" || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("%s: not an error envelope with code %d: %s (%v)", name, status, body, err)
			}
		}
	}
}

// TestDirectories: cdf.Files.Directories lists the folders of a project's images over every
// page of /files/list (a folder of text files is not one), and says when it stopped early.
func TestDirectories(t *testing.T) {
	files := testFiles(t)
	jpg := files["photos/small.jpg"]
	for i := range 1000 {
		files[fmt.Sprintf("a/%04d.jpg", i)] = jpg
	}
	files["docs/readme.txt"] = []byte("text")
	e := setup(t, setupOpts{files: files})
	ctx := context.Background()
	uploaded := true
	before := e.requests.Load()
	dirs, truncated, err := e.c.Files.Directories(ctx, cdf.FileFilter{Uploaded: &uploaded}, 10_000)
	must(t, err)
	if want := []string{"/", "/a", "/photos", "/photos/deep"}; !slices.Equal(dirs, want) || truncated {
		t.Errorf("directories %v (truncated %v), want %v", dirs, truncated, want)
	}
	if n := e.requests.Load() - before; n != 2 {
		t.Errorf("%d list requests for 1006 files, want 2 pages of 1000", n)
	}
	dirs, truncated, err = e.c.Files.Directories(ctx, cdf.FileFilter{Uploaded: &uploaded}, 1000)
	must(t, err)
	if !truncated || len(dirs) == 0 {
		t.Errorf("at most 1000 files: %v, truncated %v; want a first page's folders, truncated", dirs, truncated)
	}
}
