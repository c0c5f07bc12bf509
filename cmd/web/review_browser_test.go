package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/cdf"
)

// lassoAnnotations are the annotations Lasso wrote to the stand-in.
func lassoAnnotations(got map[int64]cdf.Annotation) []cdf.Annotation {
	var out []cdf.Annotation
	for _, a := range got {
		if a.CreatingApp == "lasso" {
			out = append(out, a)
		}
	}
	return out
}

// evalString runs JavaScript in the member's page and returns its string value.
func (m *member) evalString(t *testing.T, js string) string {
	t.Helper()
	s, err := chromedp.Run(m.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %s: %v", m.name, js, err)
	}
	return s
}

const canvasData = `document.querySelector('canvas[data-canvas]').dataset`

// TestBrowserSaveOutsideRoom: on an image opened alone, Enter writes the object to CDF with
// the polygon detail the user sees and its prompt; once saved it leaves the object list and
// shows in the "In CDF" layer, and after a reload it is there as a CDF annotation. How it was
// made outlives the object: the ⓘ of its In CDF item shows the job and raw → saved outlines
// the server kept, before and after the reload, and Re-run prompt starts a new object with
// the stored prompt.
func TestBrowserSaveOutsideRoom(t *testing.T) {
	data := t.TempDir()
	// The re-run below must give the same outline as the first run: a budget the engine
	// never reaches, however loaded the machine, keeps its answer deterministic.
	base := startApp(t, "-queue-delay", "100ms", "-run-delay", "100ms", "-data", data, "-segment-budget", "30s")
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 90*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	m.do(t, chromedp.Click(chromedp.Search(`//a[contains(., "chelsea.jpg")]`)), loaded)
	m.eventually(t, "the In CDF layer loaded, empty", canvasData+`.cdfState === 'ready' && `+canvasData+`.cdfAnnotations === '0'`)

	x, y, err := canvasPoint(ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("the cat: %+v, %v", s, err)
	}
	// Less detail: [ three times is a 2 px tolerance. "How this was made" (I) tells the raw vertices.
	m.do(t, chromedp.KeyEvent("["), chromedp.KeyEvent("["), chromedp.KeyEvent("["), chromedp.KeyEvent("i"))
	m.eventually(t, "the provenance drawer", `!document.querySelector('section[data-provenance]').hidden && !!document.querySelector('[data-prov="vertices"]')`)
	vertices := m.evalString(t, `document.querySelector('[data-prov="vertices"]').textContent`)
	raw, err := strconv.Atoi(strings.Fields(vertices)[0])
	if err != nil || !strings.Contains(vertices, "not saved yet") {
		t.Fatalf("vertices row %q (%v), want the raw count, not saved yet", vertices, err)
	}
	screenshot(t, ctx, "solo-provenance.png")
	// Re-run prompt sends the same prompt again as version 2.
	m.do(t, chromedp.Click(chromedp.CSS(`[data-provenance] [data-action="rerun"]`)))
	if s, err := waitSettled(ctx, 1, 2); err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("after Re-run prompt: %+v, %v", s, err)
	}
	m.eventually(t, "the drawer on version 2", `document.querySelector('[data-prov="version"]')?.textContent === 'v2'`)
	// What the page knows of version 2, to compare with what the server keeps: the job (when the
	// events told it) and the raw vertices.
	pageJob := m.evalString(t, `document.querySelector('[data-prov="job"]')?.textContent || ''`)
	raw2, err := strconv.Atoi(strings.Fields(m.evalString(t, `document.querySelector('[data-prov="vertices"]').textContent`))[0])
	if err != nil {
		t.Fatal(err)
	}

	// Enter sends the detail the user sees with the accept.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		window.sentAccepts = [];
		const f = window.fetch;
		window.fetch = (u, init) => { if (String(u).endsWith('/accept')) window.sentAccepts.push(init.body); return f(u, init); };
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	// No label yet: Enter opens the label picker instead of saving "object"; Enter there accepts.
	m.acceptAsked(t, "cat", `window.sentAccepts.length === 0`)
	m.eventually(t, "the accept sent", `window.sentAccepts.length === 1`)
	if body := m.evalString(t, `window.sentAccepts[0]`); !strings.Contains(body, `"tolerancePx":2`) || !strings.Contains(body, `"version":2`) ||
		!regexp.MustCompile(`"points":\[\{"x":0\.[0-9]+,"y":0\.[0-9]+,"label":1\}\],"box":null`).MatchString(body) {
		t.Errorf("accept body %s, want version 2 at tolerancePx 2 with its prompt, one positive point", body)
	}
	if body := m.evalString(t, `window.sentAccepts[0]`); !strings.Contains(body, `"label":"cat"`) {
		t.Errorf("accept body %s, want the label typed in the picker", body)
	}
	got := eventuallyStored(t, data, "Lasso's annotation", func(got map[int64]cdf.Annotation) bool {
		return len(lassoAnnotations(got)) == 1
	})
	a := lassoAnnotations(got)[0]
	od, err := a.ObjectDetection()
	if err != nil || od.Polygon == nil {
		t.Fatalf("stored %+v: %v", a, err)
	}
	if n := len(od.Polygon.Vertices); n >= raw || n < 3 {
		t.Errorf("saved %d vertices of %d raw: the 2 px detail should simplify", n, raw)
	}
	if a.Status != cdf.AnnotationSuggested || a.AnnotatedResourceType != cdf.ResourceFile {
		t.Errorf("stored %+v", a)
	}
	// Saved: the object leaves the list, the In CDF layer shows it (drawn once).
	m.eventually(t, "the object in the In CDF layer", canvasData+`.objects === '0' && `+canvasData+`.cdfAnnotations === '1' && `+canvasData+`.cdfDrawn === '1'`)
	screenshot(t, ctx, "solo-saved.png")

	// How this was made, from the server: the ⓘ of the In CDF item opens the drawer with the
	// job and raw → saved vertices, and draws both outlines.
	saved := len(od.Polygon.Vertices)
	howMade := func(when string) {
		t.Helper()
		const how = `[data-cdf-list] [data-cdf-item] [data-cdf-action="provenance"]`
		m.eventually(t, "the ⓘ of Lasso's In CDF item "+when, `(() => { const b = document.querySelector('`+how+`'); return !!b && !b.hidden; })()`)
		m.do(t, chromedp.Click(chromedp.CSS(how)))
		m.eventually(t, "the annotation's provenance "+when, `!document.querySelector('section[data-provenance]').hidden && !!document.querySelector('[data-prov="vertices"]') && `+canvasData+`.provenance !== ''`)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Job, Vertices, Drawn, Title, Selected string }](`(() => ({
			job: document.querySelector('[data-prov="job"]').textContent,
			vertices: document.querySelector('[data-prov="vertices"]').textContent,
			drawn: `+canvasData+`.provenance, selected: `+canvasData+`.cdfSelected,
			title: document.querySelector('[data-prov-object]').textContent}))()`))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(got.Job) || (pageJob != "" && got.Job != pageJob) {
			t.Errorf("%s: job %q, want the job of version 2 (the page said %q)", when, got.Job, pageJob)
		}
		if want := fmt.Sprintf("%d raw → %d saved", raw2, saved); got.Vertices != want {
			t.Errorf("%s: vertices %q, want %q", when, got.Vertices, want)
		}
		if want := fmt.Sprintf("%d,%d", raw2, saved); got.Drawn != want {
			t.Errorf("%s: drawn %q, want %q", when, got.Drawn, want)
		}
		if got.Selected != strconv.FormatInt(a.ID, 10) || !strings.Contains(got.Title, "in CDF") {
			t.Errorf("%s: selected %q, title %q: want annotation %d, in CDF", when, got.Selected, got.Title, a.ID)
		}
	}
	howMade("once saved")
	screenshot(t, ctx, "solo-provenance-in-cdf.png")

	m.do(t, chromedp.Reload(), loaded)
	m.eventually(t, "the annotation after a reload", canvasData+`.cdfState === 'ready' && `+canvasData+`.cdfAnnotations === '1' && `+canvasData+`.objects === '0'`)
	listed := m.evalString(t, `document.querySelector('[data-cdf-list]').innerText`)
	if !strings.Contains(listed, "lasso") {
		t.Errorf("the In CDF list after a reload: %q, want Lasso's annotation", listed)
	}
	howMade("after a reload")
	// I closes the drawer, and opens it again for the selected In CDF annotation.
	m.do(t, chromedp.KeyEvent("i"))
	m.eventually(t, "the drawer closed", `document.querySelector('section[data-provenance]').hidden && `+canvasData+`.provenance === ''`)
	m.do(t, chromedp.KeyEvent("i"))
	m.eventually(t, "I on the selected annotation", `!document.querySelector('section[data-provenance]').hidden && `+canvasData+`.provenance === '`+fmt.Sprintf("%d,%d", raw2, saved)+`'`)
	screenshot(t, ctx, "solo-provenance-reloaded.png")

	// Re-run prompt: a new object with the stored prompt, segmented; the drawer follows it.
	m.do(t, chromedp.Click(chromedp.CSS(`[data-provenance] [data-action="rerun"]`)))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("the re-run prompt: %+v, %v", s, err)
	}
	m.eventually(t, "the drawer on the new object", `document.querySelector('[data-prov="version"]')?.textContent === 'v1' && document.querySelector('[data-prov="prompt"]')?.textContent === '1 +' && !document.querySelector('[data-prov-object]').textContent.includes('in CDF')`)
	if v := m.evalString(t, `document.querySelector('[data-prov="vertices"]').textContent`); !strings.HasPrefix(v, strconv.Itoa(raw2)+" raw") {
		t.Errorf("the re-run's vertices %q, want %d raw as before", v, raw2)
	}
}

// TestBrowserReviewAndExport: Ana accepts an object in a room and makes Ben a reviewer; Ben
// opens review mode from the room page and presses A; Ana sees "approved" live and CDF has
// the annotation approved. Ben looks at how it was made. Then Ana exports the approved
// objects with a progress bar that reaches 100% and gets the file.
func TestBrowserReviewAndExport(t *testing.T) {
	data := t.TempDir()
	base := startApp(t, "-queue-delay", "100ms", "-run-delay", "100ms", "-data", data)
	browser := newBrowser(t)
	ana := newMember(t, browser, base, "Ana")
	ben := newMember(t, browser, base, "Ben")

	ana.do(t,
		chromedp.Navigate(base+"/rooms"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-new-room-form] input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] input[name="name"]`), "Review"),
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] textarea[name="labels"]`), "cat #ff0000"),
		chromedp.Click(chromedp.CSS(`button[data-create-room]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)),
	)
	roomID := ana.evalString(t, `document.querySelector('[data-room-page]').dataset.roomId`)
	roomURL := base + "/rooms/" + roomID
	ben.do(t, chromedp.Navigate(roomURL+"/join"), chromedp.Click(chromedp.CSS(`button[data-join-room]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)))
	if hidden := ben.evalString(t, `String(document.querySelector('[data-review-link]').hidden)`); hidden != "true" {
		t.Error("a plain member is offered review")
	}

	// Ana segments the cat and accepts it.
	catID := ana.evalString(t, `document.querySelector('[data-room-grid] [data-file-name="chelsea.jpg"]').dataset.fileId`)
	image := fmt.Sprintf("%s/images/%s", roomURL, catID)
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	ana.do(t, chromedp.Navigate(image), loaded)
	x, y, err := canvasPoint(ana.ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	ana.do(t, chromedp.MouseClickXY(x, y))
	if s, err := waitSettled(ana.ctx, 1, 1); err != nil || s.Status != "done" {
		t.Fatalf("Ana's object: %+v, %v", s, err)
	}
	// The first accept on the image asks about the room's first label; Enter keeps it.
	ana.acceptAsked(t, "", canvasData+`.save === ''`)
	ana.eventually(t, "saved", canvasData+`.save === 'saved'`)

	// Ana makes Ben a reviewer on the room page; Ben's room page offers Review at once.
	ana.do(t, chromedp.Navigate(roomURL), chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)))
	ana.do(t, chromedp.Click(chromedp.CSS(`[data-member-id="local:ben"] button[data-action="set-role"]`)))
	ana.eventually(t, "Ben shown as reviewer", `document.querySelector('[data-member-id="local:ben"] .member-role')?.dataset.role === 'reviewer'`)
	ben.eventually(t, "the Review link", `!document.querySelector('[data-review-link]').hidden`)
	ben.eventually(t, "Ben's role shown live", `document.querySelector('[data-member-id="local:ben"] .member-role')?.textContent === 'reviewer'`)

	// Review mode on an image with nothing to review walks on to the next one that has some.
	butterflyID := ana.evalString(t, `document.querySelector('[data-room-grid] [data-file-name="butterfly.jpg"]').dataset.fileId`)
	ben.do(t, chromedp.Navigate(fmt.Sprintf("%s/images/%s?review=1", roomURL, butterflyID)))
	ben.eventually(t, "walked on to the cat", `location.pathname.endsWith('/images/`+catID+`') && new URLSearchParams(location.search).get('review') === '1' && `+canvasData+`.reviewing === 'true' && `+canvasData+`.reviews === '1,0,0'`)
	ben.do(t, chromedp.Navigate(roomURL), chromedp.WaitVisible(chromedp.CSS(`[data-review-link]`)))

	// Ana watches her image; Ben opens review mode from the room page.
	ana.do(t, chromedp.Navigate(image), loaded)
	ana.eventually(t, "Ana's object awaiting review", canvasData+`.reviews === '1,0,0'`)
	ben.do(t, chromedp.Click(chromedp.CSS(`[data-review-link]`)), loaded)
	ben.eventually(t, "review mode with Ana's object selected", canvasData+`.reviewing === 'true' && `+canvasData+`.reviews === '1,0,0' && document.querySelector('li.is-selected.is-remote') !== null`)
	if url := ben.evalString(t, `location.pathname + location.search`); !strings.HasPrefix(url, "/rooms/"+roomID+"/images/"+catID+"?review=1") {
		t.Errorf("Review opened %s", url)
	}
	screenshot(t, ben.ctx, "review-ben-before.png")
	ben.do(t, chromedp.KeyEvent("a"))

	ana.eventually(t, "approved, live", canvasData+`.reviews === '0,1,0' && `+canvasData+`.review === 'approved'`)
	if badge := ana.evalString(t, `document.querySelector('[data-object-list] [data-field=review]').textContent`); badge != "approved · Ben" {
		t.Errorf("Ana's object list says %q, want approved · Ben", badge)
	}
	eventuallyStored(t, data, "the annotation approved", func(got map[int64]cdf.Annotation) bool {
		l := lassoAnnotations(got)
		return len(l) == 1 && l[0].Status == cdf.AnnotationApproved
	})
	ben.eventually(t, "nothing left to review", `!document.querySelector('[data-review-done]').hidden && `+canvasData+`.reviews === '0,1,0'`)
	if done := ben.evalString(t, `document.querySelector('[data-review-done]').textContent`); !strings.Contains(done, "nothing else to review in this room") {
		t.Errorf("after the last decision the review bar says %q", done)
	}
	screenshot(t, ana.ctx, "review-ana-approved.png")
	screenshot(t, ben.ctx, "review-ben-done.png")

	// Ben looks at how it was made: Tab selects it again, I opens the drawer, which draws the
	// raw and the saved outline.
	ben.do(t, chromedp.KeyEvent("\t"), chromedp.KeyEvent("i"))
	ben.eventually(t, "the provenance drawn", `/^[0-9]+,[1-9][0-9]*$/.test(`+canvasData+`.provenance) && !!document.querySelector('[data-prov="review"]')`)
	prov := ben.evalString(t, `document.querySelector('[data-prov-rows]').innerText + '\n' + document.querySelector('[data-prov-writes]').innerText`)
	for _, want := range []string{"Ana", "1 +", "Backend", "approved by Ben", "create v1", "review v1"} {
		if !strings.Contains(prov, want) {
			t.Errorf("provenance lacks %q:\n%s", want, prov)
		}
	}
	screenshot(t, ben.ctx, "review-provenance.png")

	// Export the approved objects from the room page, with progress.
	ana.do(t, chromedp.Navigate(roomURL), chromedp.WaitVisible(chromedp.CSS(`[data-export-form]`)))
	ana.eventually(t, "the room page live", `document.querySelector('[data-connection]').dataset.state === 'open'`)
	ana.do(t, chromedp.Click(chromedp.CSS(`[data-export-form] [data-export-button]`)))
	ana.eventually(t, "the export downloaded", `document.querySelector('[data-export-form]').dataset.state === 'done'`)
	type exported struct {
		Value           float64
		Percent, Events string
		Bytes, Filename string
		Message         string
	}
	e, err := chromedp.Run(ana.ctx, chromedp.Evaluate[exported](`(() => {
		const f = document.querySelector('[data-export-form]');
		return {value: f.querySelector('[data-export-progress]').value, percent: f.querySelector('[data-export-percent]').textContent,
			events: f.dataset.events, bytes: f.dataset.bytes, filename: f.dataset.filename, message: f.querySelector('[data-export-message]').textContent};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if e.Value != 100 || e.Percent != "100%" {
		t.Errorf("progress at the end: %+v, want 100%%", e)
	}
	if n, _ := strconv.Atoi(e.Events); n < 1 {
		t.Errorf("no export.progress event moved the bar: %+v", e)
	}
	if n, _ := strconv.Atoi(e.Bytes); n < 100 || !regexp.MustCompile(`^Review-coco\.json$`).MatchString(e.Filename) || !strings.Contains(e.Message, e.Filename) {
		t.Errorf("downloaded %+v", e)
	}
	// The same export holds the approved object.
	annotations, err := chromedp.Run(ana.ctx, chromedp.Evaluate[int](`fetch('/rooms/`+roomID+`/export?format=coco&status=approved').then(r => r.json()).then(j => j.annotations.length)`, chromedp.EvalAwaitPromise))
	if err != nil || annotations != 1 {
		t.Errorf("the approved export has %d annotations (%v), want 1", annotations, err)
	}
	screenshot(t, ana.ctx, "export-done.png")
}
