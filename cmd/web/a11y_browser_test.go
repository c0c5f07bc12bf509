package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeScript is axe-core, installed by `make test` (node-deps) from testdata/a11y.
const axeScript = "testdata/a11y/node_modules/axe-core/axe.min.js"

// axeViolation is one rule axe-core found broken on a page, with where.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	Targets []string
}

// TestBrowserAccessibility: axe-core (WCAG 2.1 A and AA rules) finds no serious or critical
// violation on the sign-in page, the image browser, the annotation page with an object, the
// rooms list, a room and its annotation page in review mode.
func TestBrowserAccessibility(t *testing.T) {
	axe, err := os.ReadFile(axeScript)
	if err != nil {
		t.Fatalf("axe-core is missing (make test installs it with npm ci): %v", err)
	}
	data := t.TempDir()
	base := startApp(t, "-queue-delay", "50ms", "-run-delay", "50ms", "-data", data)
	browser := newBrowser(t)
	ana := newMember(t, browser, base, "Ana")
	check := func(page string) {
		t.Helper()
		if _, err := chromedp.Run(ana.ctx, chromedp.Evaluate[bool](string(axe)+"\ntrue")); err != nil {
			t.Fatalf("%s: inject axe-core: %v", page, err)
		}
		found, err := chromedp.Run(ana.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
			.then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
				.map(v => ({id: v.id, impact: v.impact, help: v.help, Targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe-core: %v", page, err)
		}
		for _, v := range found {
			t.Errorf("%s: %s (%s): %s, at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Targets, "; "))
		}
	}

	ana.do(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`a[href^="/images/"]`)))
	check("image browser")

	// The annotation page with a segmented object.
	ana.do(t, chromedp.Click(chromedp.CSS(`a[href^="/images/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)))
	x, y, err := canvasPoint(ana.ctx, 0.5, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	ana.do(t, chromedp.MouseClickXY(x, y))
	if _, err := waitSettled(ana.ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	check("annotation page")

	ana.do(t,
		chromedp.Navigate(base+"/rooms"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-new-room-form] input[name="name"]`)),
	)
	check("rooms list")
	ana.do(t,
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] input[name="name"]`), "A11y"),
		chromedp.SendKeys(chromedp.CSS(`form[data-new-room-form] textarea[name="labels"]`), "cat #ff0000"),
		chromedp.Click(chromedp.CSS(`button[data-create-room]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-room-page]`)),
	)
	ana.eventually(t, "the room page live", `document.querySelector('[data-connection]').dataset.state === 'open'`)
	check("room page")

	// A room image in review mode (the owner reviews).
	fileID, err := chromedp.Run(ana.ctx, chromedp.Evaluate[string](`document.querySelector('[data-room-grid] [data-file-id]').dataset.fileId`))
	if err != nil {
		t.Fatal(err)
	}
	roomID, err := chromedp.Run(ana.ctx, chromedp.Evaluate[string](`document.querySelector('[data-room-page]').dataset.roomId`))
	if err != nil {
		t.Fatal(err)
	}
	ana.do(t, chromedp.Navigate(fmt.Sprintf("%s/rooms/%s/images/%s", base, roomID, fileID)),
		chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)),
		chromedp.KeyEvent("v"))
	ana.eventually(t, "review mode on", `!!document.querySelector('.is-reviewing [data-review-bar]') && !document.querySelector('[data-review-bar]').hidden`)
	check("room annotation page in review mode")

	// Signed out: the sign-in page.
	ana.do(t, chromedp.Click(chromedp.CSS(`button[data-signout]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/signin"]`)))
	check("sign-in page")
}
