package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/rooms"
	"github.com/lassoteam/lasso/segment"
)

// TestBrowserSaveFailedRetry is the "the UI shows saving…/saved/failed — retry", in a
// real browser against the app in CDF mode: a user signed in through the identity provider
// accepts an object on an image opened alone while CDF refuses annotation creates with a 400
// (a refusal the writer does not try again). The object list shows "save failed" with the
// cause and a Retry save button; once CDF takes creates again, Retry save writes the object
// and it moves to the "In CDF" section, and CDF holds exactly one annotation.
func TestBrowserSaveFailedRetry(t *testing.T) {
	const refusal = "The test's CDF refuses this annotation"
	var (
		refusing atomic.Bool
		refused  atomic.Int32 // creates answered with the refusal
		issuedMu sync.Mutex
		issued   []string // tokens the provider handed out
	)
	refusing.Store(true)

	op := startProvider(t, func(token string) {
		issuedMu.Lock()
		defer issuedMu.Unlock()
		issued = append(issued, token)
	})

	// The stand-in refuses creates (POST …/annotations, not /list or /suggest) while refusing.
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: "../../static/samples", Project: "acme", Engine: segment.New(segment.Options{}),
		Faults: cdflocal.FaultOn(http.MethodPost, "/annotations", func(*http.Request) *cdflocal.Fault {
			if !refusing.Load() {
				return nil
			}
			refused.Add(1)
			return &cdflocal.Fault{Status: http.StatusBadRequest, Message: refusal}
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standIn.Close() })
	cdfServer := httptest.NewServer(standIn)
	t.Cleanup(cdfServer.Close)

	addr, base, env := cdfModeEnv(t, op, cdfServer.URL)
	env["LASSO_ADDR"] = addr
	logs := &syncBuffer{}
	startAppEnv(t, env, logs)

	image, ok := standIn.FileID("animals/chelsea.jpg")
	if !ok {
		t.Fatal("no sample image")
	}
	m := &member{name: "ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 60*time.Second)
	defer cancel()
	m.ctx = ctx

	// Sign in as a user does: the login page sends the browser through the provider and back.
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	m.do(t, chromedp.Navigate(base+"/auth/login"), chromedp.WaitVisible(chromedp.CSS(`.user-name`)))
	if u := m.evalString(t, `location.origin`); u != base {
		t.Fatalf("after sign-in the browser is at %s, want the app", u)
	}
	m.do(t, chromedp.Navigate(fmt.Sprintf("%s/images/%d", base, image)), loaded)
	if user := m.evalString(t, `document.querySelector('.user-name').textContent.trim()`); user != "ana" {
		t.Errorf("header shows user %q, want ana", user)
	}
	m.eventually(t, "the In CDF layer loaded, empty", canvasData+`.cdfState === 'ready' && `+canvasData+`.cdfAnnotations === '0'`)

	// Every save state the canvas shows, and every message under the image, in order.
	m.evalString(t, `(() => {
		const c = document.querySelector('canvas[data-canvas]');
		window.saveTrail = [c.dataset.save || ''];
		new MutationObserver(() => {
			const s = c.dataset.save || '';
			if (window.saveTrail[window.saveTrail.length - 1] !== s) window.saveTrail.push(s);
		}).observe(c, {attributes: true, attributeFilter: ['data-save']});
		const hover = document.querySelector('[data-hover]');
		window.flashes = [];
		new MutationObserver(() => window.flashes.push(hover.textContent)).observe(hover, {childList: true, characterData: true, subtree: true});
		return '';
	})()`)

	x, y, err := canvasPoint(ctx, 0.62, 0.55) // the cat's nose
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y))
	if s, err := waitSettled(ctx, 1, 1); err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("the cat: %+v, %v", s, err)
	}
	m.acceptAsked(t, "cat", canvasData+`.save === ''`)

	// Failed: the object stays in the list with the badge, the cause and Retry save.
	const item = `document.querySelector('[data-object-list] li')`
	m.eventually(t, "the save failed", canvasData+`.save === 'failed' && `+item+`?.dataset.save === 'failed'`)
	m.do(t, chromedp.WaitVisible(chromedp.CSS(`[data-object-list] li[data-save="failed"] [data-action="retry-save"]`)))
	failed, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Badge, BadgeState, Error, Retry string
		RetryDisabled, PromptRetry      bool
		Objects, CDF                    string
	}](`(() => {
		const li = `+item+`;
		const d = `+canvasData+`;
		const retry = li.querySelector('[data-action="retry-save"]');
		return {badge: li.querySelector('[data-field=badge]').textContent, badgeState: li.querySelector('[data-field=badge]').dataset.status,
			error: li.querySelector('[data-field=error]').textContent, retry: retry.innerText.trim(), retryDisabled: retry.disabled,
			promptRetry: !li.querySelector('[data-action="retry"]').hidden, objects: d.objects, cdf: d.cdfAnnotations};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if failed.Badge != "save failed" || failed.BadgeState != "failed" {
		t.Errorf("the object's badge says %q (%s), want save failed", failed.Badge, failed.BadgeState)
	}
	if !strings.HasPrefix(failed.Error, "Not saved to CDF: ") || !strings.Contains(failed.Error, refusal) {
		t.Errorf("the object's error says %q, want Not saved to CDF and CDF's reason", failed.Error)
	}
	if failed.Retry != "Retry save" || failed.RetryDisabled {
		t.Errorf("the retry button says %q (disabled %v), want an enabled Retry save", failed.Retry, failed.RetryDisabled)
	}
	if failed.PromptRetry {
		t.Error("the prompt's Retry shows for a job that is done")
	}
	if failed.Objects != "1" || failed.CDF != "0" {
		t.Errorf("after the refusal: %s objects, %s in CDF; want the object kept and nothing in CDF", failed.Objects, failed.CDF)
	}
	screenshot(t, ctx, "save-failed.png")
	// A 400 is final: the writer asked CDF once and not again.
	time.Sleep(1500 * time.Millisecond) // longer than the writer's round
	if n := refused.Load(); n != 1 {
		t.Errorf("CDF was asked %d times to create the refused annotation, want once", n)
	}
	if n := len(standIn.Annotations()); n != 0 {
		t.Fatalf("%d annotations in CDF after the refusal", n)
	}

	// CDF takes creates again; Retry save writes the object, which moves to In CDF.
	refusing.Store(false)
	m.do(t, chromedp.Click(chromedp.CSS(`[data-object-list] li[data-save="failed"] [data-action="retry-save"]`)))
	m.eventually(t, "the object saved and listed under In CDF",
		canvasData+`.objects === '0' && `+canvasData+`.cdfAnnotations === '1' && `+canvasData+`.cdfDrawn === '1' && `+canvasData+`.save === ''`)
	m.do(t, chromedp.WaitVisible(chromedp.CSS(`[data-cdf-list] [data-cdf-item]`)))
	screenshot(t, ctx, "save-retried.png")
	trail := m.evalString(t, `window.saveTrail.join(',')`)
	t.Logf("data-save trail: %s", trail)
	// Saved outside a room, the object leaves the list at once: "" after "saving" is saved.
	if !regexp.MustCompile(`^,saving,failed,(saving,)?$`).MatchString(trail) {
		t.Errorf("data-save went %q, want none, saving, failed, (saving,) then none: saved and gone", trail)
	}

	got := standIn.Annotations()
	if len(got) != 1 {
		t.Fatalf("%d annotations in CDF after Retry save, want 1: %+v", len(got), got)
	}
	if a := got[0]; a.AnnotatedResourceID != image || a.CreatingApp != rooms.AppName {
		t.Errorf("the annotation in CDF: %+v, want Lasso's on file %d", a, image)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("%d creates refused in all, want 1", n)
	}
	// Only that each was said: the retry's own answer may come after the saved event and say
	// "Sending it to CDF again…" last.
	flashes := m.evalString(t, `window.flashes.join('\n')`)
	t.Logf("messages under the image:\n%s", flashes)
	for _, want := range []string{"was not saved to CDF: ", "Saved cat to CDF"} { // labelled in the picker
		if !strings.Contains(flashes, want) {
			t.Errorf("the messages under the image never said %q:\n%s", want, flashes)
		}
	}

	// No token shows in the page or the storage its scripts can read.
	page := m.evalString(t, `document.documentElement.outerHTML + '\n' + document.cookie + '\n' +
		JSON.stringify(Object.entries(localStorage)) + JSON.stringify(Object.entries(sessionStorage))`)
	issuedMu.Lock()
	defer issuedMu.Unlock()
	if len(issued) == 0 {
		t.Fatal("the provider issued no token")
	}
	for _, tok := range issued {
		if strings.Contains(page, tok) || strings.Contains(logs.String(), tok) {
			t.Errorf("a token (%.12s…) shows in the page or the log", tok)
		}
	}
}
