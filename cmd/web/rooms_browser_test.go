package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/cdf/cdflocal"
)

// member is one person's browser in a room test: a separate browser context, so a separate
// cookie jar and login session.
type member struct {
	name string
	ctx  context.Context
}

func newMember(t *testing.T, browser context.Context, base, name string) *member {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := signIn(ctx, base, name); err != nil {
		t.Fatalf("%s signs in: %v", name, err)
	}
	return &member{name: name, ctx: ctx}
}

// eventually polls a JavaScript condition in the member's page until it is true.
func (m *member) eventually(t *testing.T, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(m.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not happen within 20s (last error %v)", m.name, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *member) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(m.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", m.name, err)
	}
}

// TestBrowserRoom: three people in one room, each in their own browser context. They see each
// other's presence and results, a soft lock holds and frees, "next image" never hands two of
// them the same image, and a reloaded page shows the same state as the others.
func TestBrowserRoom(t *testing.T) {
	data := t.TempDir()
	base := startApp(t, "-queue-delay", "100ms", "-run-delay", "100ms", "-data", data)
	browser := newBrowser(t)
	ana := newMember(t, browser, base, "Ana")
	ben := newMember(t, browser, base, "Ben")
	cy := newMember(t, browser, base, "Cy")

	// Ana creates the room with a label set.
	ana.do(t,
		chromedp.Navigate(base+"/rooms"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-new-room-form] input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] input[name="name"]`), "Samples"),
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] textarea[name="labels"]`), "cat #ff0000\nfruit #00aa00"),
		chromedp.Click(chromedp.CSS(`button[data-create-room]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)),
	)
	roomID, err := chromedp.Run(ana.ctx, chromedp.Evaluate[string](`document.querySelector('[data-room-page]').dataset.roomId`))
	if err != nil || roomID == "" {
		t.Fatalf("room id: %q, %v", roomID, err)
	}
	cards, err := chromedp.Run(ana.ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-room-grid] [data-file-id]').length`))
	if err != nil || cards != 8 {
		t.Fatalf("the room shows %d images (%v), want the 8 samples", cards, err)
	}

	// Ben and Cy join by the share link (its page's Join button); Ana sees them arrive.
	for _, m := range []*member{ben, cy} {
		m.do(t, chromedp.Navigate(base+"/rooms/"+roomID+"/join"), chromedp.Click(chromedp.CSS(`button[data-join-room]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)))
	}
	ana.eventually(t, "Ben and Cy present", `['local:ben','local:cy'].every(id =>
		document.querySelector('[data-member-id="'+id+'"]')?.dataset.present === 'true')`)

	// "Next image" never hands two members the same image.
	next := `fetch('/api/rooms/` + roomID + `/next', {method: 'POST', headers: {'Content-Type': 'application/json',
		'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}, body: '{}'}).then(r => r.json()).then(j => j.fileId)`
	got := map[int64]string{}
	for _, m := range []*member{ana, ben, cy} {
		id, err := chromedp.Run(m.ctx, chromedp.Evaluate[int64](next, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: next: %v", m.name, err)
		}
		if other, dup := got[id]; dup {
			t.Errorf("%s and %s were both handed image %d", other, m.name, id)
		}
		got[id] = m.name
	}

	// Ana and Ben open the same image; Ana segments the cat.
	catID, err := chromedp.Run(ana.ctx, chromedp.Evaluate[string](
		`document.querySelector('[data-room-grid] [data-file-name="chelsea.jpg"]').dataset.fileId`))
	if err != nil {
		t.Fatal(err)
	}
	image := fmt.Sprintf("%s/rooms/%s/images/%s", base, roomID, catID)
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	ana.do(t, chromedp.Navigate(image), loaded)
	ben.do(t, chromedp.Navigate(image), loaded)
	cy.eventually(t, "Ana and Ben shown on the cat image", `(() => {
		const card = document.querySelector('[data-room-grid] [data-file-id="`+catID+`"]');
		return ['local:ana','local:ben'].every(id => card?.querySelector('[data-presence-user="'+id+'"]'));
	})()`)

	x, y, err := canvasPoint(ana.ctx, 0.62, 0.55)
	if err != nil {
		t.Fatal(err)
	}
	ana.do(t, chromedp.MouseClickXY(x, y))
	s, err := waitSettled(ana.ctx, 1, 1)
	if err != nil || s.Status != "done" || s.Polygons < 1 {
		t.Fatalf("Ana's object: %+v, %v", s, err)
	}
	// Enter accepts it: it becomes an annotation in (the stand-in of) CDF. The room's first label
	// is preselected: it is shown in the status line, and the first accept on the image asks.
	ana.eventually(t, "the label shown", `document.querySelector('[data-current-label]').textContent === 'Label: cat'`)
	ana.acceptAsked(t, "", `!document.querySelector('canvas[data-canvas]').dataset.save`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		items, _ := cdflocal.ReadAnnotations(filepath.Join(data, "cdflocal"))
		b, _ := json.Marshal(items)
		if strings.Contains(string(b), `"creatingApp":"lasso"`) && strings.Contains(string(b), `"polygon"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no annotation written 15s after accepting; stand-in file: %.300s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ana.eventually(t, "the object shown as saved", `[...document.querySelectorAll('[data-object-list] [data-field=badge]')].some(b => b.textContent === 'saved')`)
	// Ben sees Ana's object, drawn with its polygons.
	ben.eventually(t, "Ana's object drawn", `document.querySelector('canvas[data-canvas]').dataset.others === '1'`)
	// Cy's room grid shows the image in progress and the label counted.
	cy.eventually(t, "the cat image in progress", `document.querySelector('[data-room-grid] [data-file-id="`+catID+`"]').dataset.status === 'in_progress'`)

	// The soft lock: Ben selects Ana's object while she is on the image...
	ben.do(t, chromedp.Click(chromedp.CSS(`li.is-remote [data-action="select"]`)))
	ben.eventually(t, "Ana's soft lock shown", `document.querySelector('canvas[data-canvas]').dataset.lock === 'Ana'`)
	// ...and it frees itself when she leaves the image.
	ana.do(t, chromedp.Navigate(base+"/rooms/"+roomID), chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)))
	ben.eventually(t, "the soft lock freed", `document.querySelector('canvas[data-canvas]').dataset.lock === ''`)
	// On the room page an export of the approved objects (the default) while none is approved
	// says so and what to choose instead, rather than downloading an empty file.
	ana.do(t, chromedp.Click(chromedp.CSS(`[data-export-form] [data-export-button]`)))
	ana.eventually(t, "the empty export explained", `(() => {
		const f = document.querySelector('[data-export-form]');
		const m = f.querySelector('[data-export-message]').textContent;
		return f.dataset.state === 'error' && m.includes('Nothing in this room is approved yet') && m.includes('All accepted');
	})()`)
	screenshot(t, ana.ctx, "room-export-nothing-approved.png")

	// A reloaded page (as after a dropped connection) shows the same state as before.
	ben.do(t, chromedp.Reload(), loaded)
	ben.eventually(t, "Ana's object after a reload", `document.querySelector('canvas[data-canvas]').dataset.others === '1'`)
	state, err := chromedp.Run(ben.ctx, chromedp.Evaluate[string](`document.querySelector('[data-object-list]')?.textContent || ''`))
	if err != nil || !strings.Contains(state, "Ana") {
		t.Errorf("Ben's object list after reload: %q, %v; want Ana's object", state, err)
	}
	screenshot(t, ben.ctx, "room-ben.png")
	screenshot(t, cy.ctx, "room-cy.png")
}
