package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/cdf"
)

// acceptAsked presses Enter on the selected object and checks that the label picker opened
// instead (the object's label field is focused) while still holds (nothing was accepted), then
// types label there (none: keep the label it shows) and presses Enter, which accepts.
func (m *member) acceptAsked(t *testing.T, label, still string) {
	t.Helper()
	m.do(t, chromedp.KeyEvent("\r"))
	m.eventually(t, "the label picker", `document.activeElement?.matches('[data-object-list] li.is-selected input[data-field="label"]') === true && (`+still+`)`)
	m.do(t, chromedp.KeyEvent(label+"\r"))
}

// TestBrowserLabelFlow: the fixes of a first tour to an accepted object (issue 20). The job
// status shows by the click and is told to screen readers; a double-click on the point just
// placed adds it once; after a box is done the status bar no longer says "New object"; Enter
// on an object without a label opens the label picker and Enter there accepts with the typed
// label; the status line always names the label; /favicon.ico is served.
func TestBrowserLabelFlow(t *testing.T) {
	data := t.TempDir()
	base := startApp(t, "-queue-delay", "300ms", "-run-delay", "1500ms", "-data", data)
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 120*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	m.do(t, chromedp.Click(chromedp.Search(`//a[contains(., "chelsea.jpg")]`)), loaded)
	if got := m.evalString(t, `document.querySelector('[data-current-label]').textContent`); got != "Label: none yet (Enter asks)" {
		t.Errorf("the status line says %q before any label, want it to say there is none", got)
	}
	live := m.evalString(t, `(() => { const l = document.querySelector('[data-job-live]'); return l.getAttribute('role') + ' ' + l.getAttribute('aria-live'); })()`)
	if live != "status polite" {
		t.Errorf("the job status region is %q, want role=status aria-live=polite", live)
	}

	// A double-click on the cat's nose: one point, one job (no add-then-remove).
	x, y, err := canvasPoint(ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y), chromedp.MouseClickXY(x, y))
	m.eventually(t, "the status by the click", canvasData+`.canvasStatus.startsWith('running')`)
	m.eventually(t, "running told to screen readers", `document.querySelector('[data-job-live]').textContent === 'Object: running'`)
	s, err := waitSettled(ctx, 1, 1)
	if err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("after a double-click: %+v, %v", s, err)
	}
	if n := m.evalString(t, `String(document.querySelectorAll('[data-object-list] li').length) + ' ' + `+canvasData+`.version + ' ' + `+canvasData+`.canvasStatus`); n != "1 1 " {
		t.Errorf("after a double-click: objects, version, canvas status %q, want one object at version 1, nothing by the click once done", n)
	}
	m.eventually(t, "done told to screen readers", `document.querySelector('[data-job-live]').textContent.startsWith('Object: done')`)

	// Enter without a label: the picker, nothing saved as "object"; lime + Enter accepts.
	m.acceptAsked(t, "lime", canvasData+`.save === ''`)
	m.eventually(t, "saved", `document.querySelectorAll('[data-object-list] li').length === 0 && `+canvasData+`.cdfAnnotations === '1'`)
	eventuallyStored(t, data, "the label typed in the picker", func(got map[int64]cdf.Annotation) bool {
		as := lassoAnnotations(got)
		return len(as) == 1 && strings.Contains(string(as[0].Data), `"label":"lime"`)
	})
	if got := m.evalString(t, `document.querySelector('[data-current-label]').textContent`); got != "Label: lime (next objects)" {
		t.Errorf("the status line says %q, want the sticky label for the next objects", got)
	}

	// N, then a box: once it is done the status bar no longer says "New object: click the image.".
	m.do(t, chromedp.KeyEvent("n"))
	if got := m.evalString(t, `document.querySelector('[data-hover]').textContent`); got != "New object: click the image." {
		t.Errorf("after N the status bar says %q", got)
	}
	ax, ay, err := canvasPoint(ctx, 0.05, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	bx, by, err := canvasPoint(ctx, 0.45, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.DragAndDropXY(ax, ay, bx, by))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" {
		t.Fatalf("the box: %+v, %v", s, err)
	}
	if got := m.evalString(t, `document.querySelector('[data-hover]').textContent`); strings.Contains(got, "New object") {
		t.Errorf("after the box is done the status bar still says %q", got)
	}

	res, err := http.Get(base + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /favicon.ico: %d, want 200", res.StatusCode)
	}
}

// TestBrowserToolbarAcceptAsks: the toolbar's Accept asks for the label like Enter does, and
// the picker it opens keeps the focus (a toolbar click otherwise hands it back to the canvas).
func TestBrowserToolbarAcceptAsks(t *testing.T) {
	data := t.TempDir()
	base := startApp(t, "-queue-delay", "0", "-run-delay", "0", "-data", data)
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 60*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	m.do(t, chromedp.Click(chromedp.Search(`//a[contains(., "chelsea.jpg")]`)), loaded)
	x, y, err := canvasPoint(ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" {
		t.Fatalf("the cat: %+v, %v", s, err)
	}
	m.do(t, chromedp.Click(chromedp.CSS(`.toolbar button[data-action="accept"]`)))
	m.eventually(t, "the picker after the toolbar's Accept", `document.activeElement?.matches('[data-object-list] li.is-selected input[data-field="label"]') === true && `+canvasData+`.save === ''`)
	m.do(t, chromedp.KeyEvent("owl\r"))
	eventuallyStored(t, data, "the label typed in the picker", func(got map[int64]cdf.Annotation) bool {
		as := lassoAnnotations(got)
		return len(as) == 1 && strings.Contains(string(as[0].Data), `"label":"owl"`)
	})
}
