package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/google/go-cmp/cmp"

	"github.com/lassoteam/lasso/views"
)

var layout = views.Layout{Title: "T", CSRFToken: "csrf-<tok>", User: "Ana Lima", Project: "proj", Mode: "local"}

func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// checkShell asserts what every page needs under a strict CSP
// (script-src 'self'; style-src 'self').
func checkShell(t *testing.T, doc *goquery.Document) {
	t.Helper()
	if got, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content"); got != layout.CSRFToken {
		t.Errorf("csrf meta = %q, want %q", got, layout.CSRFToken)
	}
	if got, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href"); got != "/static/css/app.css" {
		t.Errorf("stylesheet = %q", got)
	}
	if doc.Find("style").Length() > 0 {
		t.Error("inline <style> element")
	}
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, _ := s.Attr("src")
		typ, _ := s.Attr("type")
		if typ != "module" || !strings.HasPrefix(src, "/static/js/") || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("script type=%q src=%q text=%q: want an external module under /static/js/", typ, src, s.Text())
		}
	})
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=%q>: inline styles and handlers break the CSP", goquery.NodeName(s), a.Key, a.Val)
			}
			if strings.Contains(a.Val, "javascript:") || strings.Contains(a.Val, "about:invalid") {
				t.Errorf("<%s %s=%q>: unsafe or sanitised URL", goquery.NodeName(s), a.Key, a.Val)
			}
		}
	})
	header := doc.Find("header").Text()
	for _, want := range []string{"Lasso", "proj", "Ana Lima", "local"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	if got := doc.Find("title").Text(); got != "T · Lasso" {
		t.Errorf("title = %q", got)
	}
}

func TestBrowser(t *testing.T) {
	p := views.BrowserPage{
		Layout: layout,
		Files: []views.FileCard{
			{ID: 7, Name: "cat.jpg", Directory: "/animals", Size: "1280×960", Bytes: "183 KB", IconURL: "/images/7/icon", Href: "/images/7"},
			{ID: 8, Name: "noicon.png", Href: "/images/8"},
		},
		Name: "c", Dir: "/animals", Dirs: []string{"/animals", "/fruit"},
		NextHref: "/?cursor=abc&name=c", FirstHref: "/?name=c",
	}
	doc := render(t, views.Browser(p))
	checkShell(t, doc)
	if got := doc.Find("script").AttrOr("src", ""); got != "/static/js/browser.js" {
		t.Errorf("script = %q", got)
	}
	form := doc.Find("form[data-filter-form]")
	if m := form.AttrOr("method", ""); m != "get" {
		t.Errorf("form method = %q", m)
	}
	if v := form.Find(`input[name="name"]`).AttrOr("value", ""); v != "c" {
		t.Errorf("name filter = %q", v)
	}
	if v := form.Find(`select[name="dir"] option[selected]`).AttrOr("value", "?"); v != "/animals" {
		t.Errorf("selected dir = %q", v)
	}
	var hrefs, names []string
	doc.Find("[data-file-grid] a.file-link").Each(func(_ int, s *goquery.Selection) {
		hrefs = append(hrefs, s.AttrOr("href", ""))
		names = append(names, s.Find(".file-name").Text())
	})
	if diff := cmp.Diff([]string{"/images/7", "/images/8"}, hrefs); diff != "" {
		t.Errorf("card hrefs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cat.jpg", "noicon.png"}, names); diff != "" {
		t.Errorf("card names (-want +got):\n%s", diff)
	}
	img := doc.Find("[data-file-grid] img")
	if img.Length() != 1 || img.AttrOr("loading", "") != "lazy" || img.AttrOr("src", "") != "/images/7/icon" {
		t.Errorf("thumbnails: %d, loading=%q src=%q", img.Length(), img.AttrOr("loading", ""), img.AttrOr("src", ""))
	}
	if meta := doc.Find(".file-meta").First().Text(); !strings.Contains(meta, "1280×960") || !strings.Contains(meta, "183 KB") {
		t.Errorf("meta = %q", meta)
	}
	if got := doc.Find(`a[rel="next"]`).AttrOr("href", ""); got != p.NextHref {
		t.Errorf("next = %q", got)
	}
	if got := doc.Find(`a[rel="first"]`).AttrOr("href", ""); got != p.FirstHref {
		t.Errorf("first = %q", got)
	}
}

func TestBrowserEmpty(t *testing.T) {
	doc := render(t, views.Browser(views.BrowserPage{Layout: layout, Name: "zebra", Empty: "No images match “zebra”."}))
	if got := doc.Find(".empty-title").Text(); got != "No images match “zebra”." {
		t.Errorf("empty message = %q", got)
	}
	if doc.Find("[data-file-grid]").Length() != 0 || doc.Find(".pager").Length() != 0 {
		t.Error("empty page shows a grid or pager")
	}
}

func TestAnnotate(t *testing.T) {
	p := views.AnnotatePage{
		Layout: layout, FileID: 42, Name: "cat.jpg", ImageURL: "/images/42/content",
		Width: 1280, Height: 960, Room: "image-42", PrevHref: "/images/41", NextHref: "", BackHref: "/",
	}
	doc := render(t, views.Annotate(p))
	checkShell(t, doc)
	if got := doc.Find("script").AttrOr("src", ""); got != "/static/js/annotate.js" {
		t.Errorf("script = %q", got)
	}
	root := doc.Find("[data-annotator]")
	want := map[string]string{
		"data-file-id": "42", "data-image-url": "/images/42/content", "data-width": "1280", "data-height": "960",
		"data-room": "image-42", "data-prev-href": "/images/41", "data-next-href": "", "data-back-href": "/",
	}
	for k, v := range want {
		if got, ok := root.Attr(k); !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	canvas := root.Find("canvas[data-canvas]")
	for _, hook := range []string{"data-image-loaded", "data-objects", "data-status", "data-status-trail", "data-polygons", "data-bbox", "data-version", "data-latency-ms"} {
		if _, ok := canvas.Attr(hook); !ok {
			t.Errorf("canvas lacks test hook %s", hook)
		}
	}
	// Every toolbar control tells its shortcut in the tooltip.
	for action, key := range map[string]string{
		"fit": "(F)", "undo": "Ctrl+Z", "redo": "Ctrl+Shift+Z", "clear": "(Esc)", "new": "(N)",
		"accept": "(Enter)", "delete": "Delete", "help": "(?)", "zoom-in": "+", "zoom-out": "−",
	} {
		title := root.Find(`.toolbar [data-action="`+action+`"]`).First().AttrOr("title", "")
		if !strings.Contains(title, key) {
			t.Errorf("toolbar %q title = %q, want it to mention %q", action, title, key)
		}
	}
	if got := root.Find(`a[data-nav="prev"]`).AttrOr("title", ""); !strings.Contains(got, "A / ←") {
		t.Errorf("prev title = %q", got)
	}
	if root.Find(`a[data-nav="next"]`).Length() != 0 {
		t.Error("next link rendered without a NextHref")
	}
	if got := root.Find("[data-detail]").AttrOr("type", ""); got != "range" {
		t.Errorf("detail control type = %q", got)
	}
	tpl := root.Find("template[data-object-template]")
	if tpl.Length() != 1 {
		t.Fatal("no object template")
	}
	help := root.Find("dialog[data-help]").Text()
	for _, b := range []string{"Right-click", "Shift+Click", "Alt+Click", "Hold Ctrl", "Esc", "Enter", "1–9", "Ctrl+Z", "Backspace", "Space+Drag", "Middle-drag", "[", "]", "Tab"} {
		if !strings.Contains(help, b) {
			t.Errorf("help overlay lacks %q", b)
		}
	}
}

func TestError(t *testing.T) {
	doc := render(t, views.Error(views.ErrorPage{Layout: layout, Status: 404, Title: "Image not found", Message: "Go back and pick another one."}))
	checkShell(t, doc)
	if doc.Find("script").Length() != 0 {
		t.Error("the error page needs no script")
	}
	if got := doc.Find("h1").Text(); got != "Image not found" {
		t.Errorf("h1 = %q", got)
	}
	if got := doc.Find(".error-status").Text(); got != "Error 404" {
		t.Errorf("status = %q", got)
	}
	if got := doc.Find(".error-message").Text(); got != "Go back and pick another one." {
		t.Errorf("message = %q", got)
	}
	// Without a title or message, the page still says what happened and what to do.
	doc = render(t, views.Error(views.ErrorPage{Layout: layout, Status: 500}))
	if doc.Find("h1").Text() == "" || doc.Find(".error-message").Text() == "" {
		t.Error("fallback title/message missing")
	}
	if doc.Find(`.error-actions a[href=""]`).Length() != 1 {
		t.Error("a 500 offers no retry")
	}
}
