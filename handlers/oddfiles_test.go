package handlers_test

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lassoteam/lasso/internal/oddimages"
)

// TestOddFilesOnThePage: the annotation page of a photo stored turned a quarter carries its
// upright size, as the browser shows it; WebP, HEIC or 12-bit JPEG content named .jpg is
// refused with a message naming what it is, and its content route shows a placeholder that
// says so.
func TestOddFilesOnThePage(t *testing.T) {
	up := image.NewRGBA(image.Rect(0, 0, 60, 100))
	for y := range 100 {
		for x := range 60 {
			up.SetRGBA(x, y, color.RGBA{uint8(x * 4), uint8(y * 2), 90, 255})
		}
	}
	a := setup(t, options{raw: map[string][]byte{
		"rotated.jpg": oddimages.WithOrientation(oddimages.JPEG(oddimages.Stored(up, 8)), 8, true),
		"webp.jpg":    oddimages.WebPHeader(),
		"heic.jpg":    oddimages.HEICHeader(),
		"deep.jpg":    oddimages.TwelveBitJPEGHeader(640, 480),
	}})
	doc := a.page(t, fmt.Sprintf("/images/%d", a.files["rotated.jpg"]), http.StatusOK)
	root := doc.Find("[data-annotator]")
	if w, _ := root.Attr("data-width"); w != "60" {
		t.Errorf("data-width %q, want the upright 60 (stored 100)", w)
	}
	if h, _ := root.Attr("data-height"); h != "100" {
		t.Errorf("data-height %q, want the upright 100 (stored 60)", h)
	}
	for file, want := range map[string]string{
		"webp.jpg": "the file is a WebP image, not a JPEG or PNG",
		"heic.jpg": "the file is a HEIC (HEIF) image, not a JPEG or PNG",
		"deep.jpg": "12-bit samples",
	} {
		page := a.page(t, fmt.Sprintf("/images/%d", a.files[file]), http.StatusUnprocessableEntity)
		if text := page.Text(); !strings.Contains(text, want) || strings.Contains(text, "segment:") {
			t.Errorf("%s: the page does not say %q plainly:\n%s", file, want, strings.Join(strings.Fields(text), " "))
		}
		res, err := a.client.Get(fmt.Sprintf("%s/files/%d/content", a.url, a.files[file]))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(body), want) {
			t.Errorf("%s: content is %s %q, want a placeholder saying %q", file, res.Header.Get("Content-Type"), body, want)
		}
	}
}
