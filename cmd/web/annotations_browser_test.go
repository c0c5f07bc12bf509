package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/cdf/cdflocal"
	"github.com/lassoteam/lasso/static/samples"
)

// seedAnnotations writes annotations into the data folder's stand-in before the app starts, as
// another tool would have: through the stand-in's REST API, over the same sample images (file
// ids follow the file paths, so the app's stand-in has the same ones). It returns the id of
// chelsea.jpg and the annotations made.
func seedAnnotations(t *testing.T, data string) (int64, []cdf.Annotation) {
	t.Helper()
	user := "someone@example.com"
	return seedStandIn(t, data, func(cat int64) []cdf.AnnotationCreate {
		item := func(typ, app string, user *string, status cdf.AnnotationStatus, data string) cdf.AnnotationCreate {
			return cdf.AnnotationCreate{AnnotatedResourceType: cdf.ResourceFile, AnnotatedResourceID: cat, AnnotationType: typ,
				CreatingApp: app, CreatingAppVersion: "2.1.0", CreatingUser: user, Status: status, Data: json.RawMessage(data)}
		}
		return []cdf.AnnotationCreate{
			// Around the cat's head, from another tool.
			item(cdf.AnnotationTypeObjectDetection, "other-tool", &user, cdf.AnnotationSuggested,
				`{"label":"cat","confidence":0.82,"polygon":{"vertices":[{"x":0.45,"y":0.2},{"x":0.8,"y":0.22},{"x":0.85,"y":0.75},{"x":0.5,"y":0.85},{"x":0.4,"y":0.5}]}}`),
			// A box at the left, made by a service.
			item(cdf.AnnotationTypeObjectDetection, "labelstudio", nil, cdf.AnnotationApproved,
				`{"label":"cushion","boundingBox":{"xMin":0.04,"yMin":0.5,"xMax":0.3,"yMax":0.95}}`),
			// A whole-image label: listed, not drawn.
			item(cdf.AnnotationTypeClassification, "classifier", nil, cdf.AnnotationSuggested, `{"label":"indoor","confidence":0.6}`),
		}
	})
}

// seedStandIn writes the annotations items(id of chelsea.jpg) into the data folder's stand-in
// before the app starts; it returns the id of chelsea.jpg and the annotations made.
func seedStandIn(t *testing.T, data string, items func(cat int64) []cdf.AnnotationCreate) (int64, []cdf.Annotation) {
	t.Helper()
	images := t.TempDir()
	if err := os.CopyFS(images, samples.FS); err != nil {
		t.Fatal(err)
	}
	const token = "seed"
	standIn, err := cdflocal.New(cdflocal.Config{ImagesDir: images, Token: token, DataDir: filepath.Join(data, "cdflocal")})
	if err != nil {
		t.Fatal(err)
	}
	defer standIn.Close()
	srv := httptest.NewServer(standIn)
	defer srv.Close()
	ctx := context.Background()
	client := cdf.New(srv.URL, cdflocal.DefaultProject, oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})))
	files, err := client.Files.Search(ctx, cdf.FileFilter{}, "chelsea.jpg", 10)
	if err != nil || len(files) != 1 {
		t.Fatalf("find chelsea.jpg: %v, %v", files, err)
	}
	cat := files[0].ID
	made, err := client.Annotations.Create(ctx, items(cat))
	if err != nil {
		t.Fatal(err)
	}
	return cat, made
}

// standInAnnotations reads what the app's stand-in has stored (it syncs every change).
func standInAnnotations(t *testing.T, data string) map[int64]cdf.Annotation {
	t.Helper()
	items, err := cdflocal.ReadAnnotations(filepath.Join(data, "cdflocal"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]cdf.Annotation{}
	for _, a := range items {
		out[a.ID] = a
	}
	return out
}

// eventuallyStored polls the stand-in's file until ok holds.
func eventuallyStored(t *testing.T, data, what string, ok func(map[int64]cdf.Annotation) bool) map[int64]cdf.Annotation {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := standInAnnotations(t, data)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in never had %s: %+v", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserCDFAnnotations: annotations an image already has in CDF are listed and drawn when
// it opens; a label change, a dragged vertex, a status change and a deletion reach the
// stand-in; after a reload the list is what CDF has.
func TestBrowserCDFAnnotations(t *testing.T) {
	data := t.TempDir()
	catID, made := seedAnnotations(t, data)
	poly, box := made[0], made[1]
	base := startApp(t, "-data", data)
	m := &member{name: "Ana", ctx: newBrowser(t)}
	ctx, cancel := context.WithTimeout(m.ctx, 90*time.Second)
	defer cancel()
	m.ctx = ctx
	if err := signIn(ctx, base, "Ana"); err != nil {
		t.Fatal(err)
	}
	loaded := chromedp.WaitVisible(chromedp.CSS(`canvas[data-canvas][data-image-loaded="true"]`))
	m.do(t, chromedp.Navigate(fmt.Sprintf("%s/images/%d", base, catID)), loaded)

	const canvas = `document.querySelector('canvas[data-canvas]').dataset`
	m.eventually(t, "three annotations listed, two drawn", canvas+`.cdfState === 'ready' && `+canvas+`.cdfAnnotations === '3' && `+canvas+`.cdfDrawn === '2'`)
	listed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-cdf-list]').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"other-tool · someone@example.com", "labelstudio · a service", "indoor", "not drawn", "approved"} {
		if !strings.Contains(listed, want) {
			t.Errorf("the In CDF list lacks %q:\n%s", want, listed)
		}
	}
	count, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-cdf-count]`)))
	if count != "3" {
		t.Errorf("the In CDF count says %q, want 3", count)
	}
	screenshot(t, ctx, "cdf-annotations.png")

	// Shift+Alt+click on the box selects it; a plain click stays a prompt.
	x, y, err := canvasPoint(ctx, 0.1, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.MouseClickXY(x, y, chromedp.ButtonModifiers(chromedp.ModifierShift, chromedp.ModifierAlt)))
	m.eventually(t, "the box selected", canvas+fmt.Sprintf(`.cdfSelected === '%d'`, box.ID))

	// Select the polygon from the list and change its label.
	row := fmt.Sprintf(`[data-cdf-list] li[data-cdf-id="%d"] `, poly.ID)
	m.do(t, chromedp.Click(chromedp.CSS(row+`[data-cdf-action="select"]`)))
	m.eventually(t, "the polygon selected", canvas+fmt.Sprintf(`.cdfSelected === '%d'`, poly.ID))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelector('`+row+`input[data-cdf-field="label"]').value = '') === ''`)); err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.SendKeys(chromedp.CSS(row+`input[data-cdf-field="label"]`), "tabby\r"))
	eventuallyStored(t, data, "the new label", func(got map[int64]cdf.Annotation) bool {
		return strings.Contains(string(got[poly.ID].Data), `"label":"tabby"`)
	})

	// The stand-in has the label before the page has its answer: Edit shape is disabled while
	// the row's request is in flight, and a click on it then does nothing.
	m.eventually(t, "the label's request answered", fmt.Sprintf(`document.querySelector('[data-cdf-list] li[data-cdf-id="%d"]')?.getAttribute('aria-busy') === 'false'`, poly.ID))

	// Edit its shape: drag the first vertex, (0.45, 0.2), to (0.35, 0.12); then save.
	m.do(t, chromedp.Click(chromedp.CSS(row+`[data-cdf-action="edit-shape"]`)))
	m.eventually(t, "editing the polygon", canvas+fmt.Sprintf(`.cdfEditing === '%d'`, poly.ID))
	fx, fy, err := canvasPoint(ctx, 0.45, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	tx, ty, err := canvasPoint(ctx, 0.35, 0.12)
	if err != nil {
		t.Fatal(err)
	}
	m.do(t, chromedp.DragAndDropXY(fx, fy, tx, ty))
	m.eventually(t, "the shape dirty", canvas+`.cdfDirty === 'true'`)
	screenshot(t, ctx, "cdf-edit-shape.png")
	m.do(t, chromedp.Click(chromedp.CSS(row+`[data-cdf-action="save-shape"]`)))
	m.eventually(t, "the shape saved", canvas+`.cdfEditing === '' && `+canvas+`.cdfDirty === 'false'`)
	got := eventuallyStored(t, data, "the moved vertex", func(got map[int64]cdf.Annotation) bool {
		od, err := func() (*cdf.ObjectDetection, error) { a := got[poly.ID]; return a.ObjectDetection() }()
		return err == nil && od.Polygon != nil && math.Abs(od.Polygon.Vertices[0].X-0.45) > 0.05
	})
	od, _ := func() (*cdf.ObjectDetection, error) { a := got[poly.ID]; return a.ObjectDetection() }()
	v := od.Polygon.Vertices
	if len(v) != 5 || math.Abs(v[0].X-0.35) > 0.01 || math.Abs(v[0].Y-0.12) > 0.01 || v[1].X != 0.8 || v[1].Y != 0.22 {
		t.Errorf("stored polygon %+v, want the first vertex at (0.35, 0.12) and the others unmoved", v)
	}
	if od.Label != "tabby" || od.Confidence == nil || *od.Confidence != 0.82 {
		t.Errorf("stored %+v: the label and confidence should stay", od)
	}
	// The drag moved the vertex; it made no prompt.
	if objs, _ := chromedp.Run(ctx, chromedp.Evaluate[string](canvas+`.objects`)); objs != "0" {
		t.Errorf("the drag made %s objects, want none", objs)
	}

	// Approve it.
	m.do(t, chromedp.Click(chromedp.CSS(row+`[data-cdf-action="status"][data-status="approved"]`)))
	eventuallyStored(t, data, "the approval", func(got map[int64]cdf.Annotation) bool {
		return got[poly.ID].Status == cdf.AnnotationApproved
	})

	// Delete the box: asked first, then gone from CDF.
	boxRow := fmt.Sprintf(`[data-cdf-list] li[data-cdf-id="%d"] `, box.ID)
	m.do(t,
		chromedp.Click(chromedp.CSS(boxRow+`[data-cdf-action="delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(boxRow+`[data-cdf-action="confirm-delete"]`)),
	)
	if _, ok := standInAnnotations(t, data)[box.ID]; !ok {
		t.Fatal("deleted before it was confirmed")
	}
	m.do(t, chromedp.Click(chromedp.CSS(boxRow+`[data-cdf-action="confirm-delete"]`)))
	m.eventually(t, "two annotations listed", canvas+`.cdfAnnotations === '2'`)
	eventuallyStored(t, data, "the box deleted", func(got map[int64]cdf.Annotation) bool {
		_, ok := got[box.ID]
		return !ok && len(got) == 2
	})
	screenshot(t, ctx, "cdf-after-edit.png")

	// After a reload the list is what CDF has.
	m.do(t, chromedp.Reload(), loaded)
	m.eventually(t, "two annotations after a reload", canvas+`.cdfState === 'ready' && `+canvas+`.cdfAnnotations === '2' && `+canvas+`.cdfDrawn === '1'`)
	labels, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-cdf-list] li')].map(li =>
		(li.querySelector('[data-cdf-field=label]').hidden ? li.querySelector('[data-cdf-field=label-text]').textContent : li.querySelector('[data-cdf-field=label]').value)
		+ ' ' + li.querySelector('[data-cdf-field=status]').textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"tabby approved", "indoor suggested"}; strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Errorf("after a reload the list shows %q, want %q", labels, want)
	}
}
