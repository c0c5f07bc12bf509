package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lassoteam/lasso/cdf"
)

// TestBrowserAnnotationProvenanceRefused: an annotation made with Lasso by someone else (here
// seeded into the stand-in) has the "How this was made" ⓘ in the In CDF list, but the server
// keeps nothing of it for this user: the drawer says so, draws nothing and offers no Re-run.
// Another tool's annotation has no ⓘ, and I with it selected asks for an object.
func TestBrowserAnnotationProvenanceRefused(t *testing.T) {
	data := t.TempDir()
	user := "someone@example.com"
	catID, made := seedStandIn(t, data, func(cat int64) []cdf.AnnotationCreate {
		item := func(app, label string) cdf.AnnotationCreate {
			return cdf.AnnotationCreate{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceID: cat,
				AnnotationType: cdf.AnnotationTypeObjectDetection, CreatingApp: app, CreatingAppVersion: "1.0.0",
				CreatingUser: &user, Status: cdf.AnnotationSuggested,
				Data: json.RawMessage(`{"label":"` + label + `","polygon":{"vertices":[{"x":0.45,"y":0.2},{"x":0.8,"y":0.22},{"x":0.85,"y":0.75},{"x":0.5,"y":0.85}]}}`)}
		}
		return []cdf.AnnotationCreate{item("lasso", "cat"), item("other-tool", "head")}
	})
	lasso, other := made[0], made[1]
	base := startApp(t, "-data", data)
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 60*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.Navigate(fmt.Sprintf("%s/images/%d", base, catID)), chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`)))
	m.eventually(t, "two annotations listed", canvasData+`.cdfState === 'ready' && `+canvasData+`.cdfAnnotations === '2'`)

	row := func(id int64) string { return fmt.Sprintf(`[data-cdf-item][data-cdf-id="%d"] `, id) }
	hidden := func(id int64) string {
		return m.evalString(t, `String(document.querySelector('`+row(id)+`[data-cdf-action="provenance"]').hidden)`)
	}
	if hidden(lasso.ID) != "false" || hidden(other.ID) != "true" {
		t.Errorf("ⓘ hidden: Lasso's %s, another tool's %s; want only Lasso's shown", hidden(lasso.ID), hidden(other.ID))
	}

	// Lasso's, made by someone else: the server's 404 message, in the drawer.
	m.do(t, chromedp.Click(chromedp.CSS(row(lasso.ID)+`[data-cdf-action="provenance"]`)))
	m.eventually(t, "the refusal in the drawer", `!document.querySelector('section[data-provenance]').hidden && document.querySelector('[data-prov-note]').textContent.includes('no record')`)
	state := m.evalString(t, `[document.querySelector('[data-prov-body]').hidden, `+canvasData+`.provenance, `+canvasData+`.cdfSelected, document.querySelector('[data-prov-object]').textContent].join('|')`)
	if want := fmt.Sprintf("true||%d|cat · in CDF", lasso.ID); state != want {
		t.Errorf("drawer body hidden|drawn|selected|title = %q, want %q", state, want)
	}
	screenshot(t, ctx, "provenance-refused.png")

	// Another tool's selected: I asks for an object.
	m.do(t, chromedp.KeyEvent("i"))
	m.eventually(t, "the drawer closed", `document.querySelector('section[data-provenance]').hidden`)
	m.do(t, chromedp.Click(chromedp.CSS(row(other.ID)+`[data-cdf-action="select"]`)), chromedp.KeyEvent("i"))
	m.eventually(t, "the drawer asks for an object", `!document.querySelector('section[data-provenance]').hidden && document.querySelector('[data-prov-note]').textContent.startsWith('Select an object')`)
	if hover := m.evalString(t, `document.querySelector('[data-hover]').textContent`); !strings.Contains(hover, "Select an object") {
		t.Errorf("status bar %q", hover)
	}
}
