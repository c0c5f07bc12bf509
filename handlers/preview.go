package handlers

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lassoteam/lasso/cdf"
)

// noPreviewHeader carries, on a placeholder image, why the file has no preview.
const noPreviewHeader = "X-Lasso-No-Preview"

// noPreview is a problem with an image file itself (too many pixels, unreadable): pages and
// the API answer it as the problem it wraps, while the image routes (/files/:id/icon and
// /content) answer a placeholder that says so, since an <img> shows no error message.
type noPreview struct {
	*problem
	reason string // short, for the placeholder, e.g. "too large: 30000×30000 pixels"
}

func (n *noPreview) Unwrap() error { return n.problem }

// previewReason returns why an error of openImage means "this file has no preview" rather
// than a failure (see noPreview).
func previewReason(err error) (string, bool) {
	var np *noPreview
	if errors.As(err, &np) {
		return np.reason, true
	}
	return "", false
}

// iconReason returns why CDF's answer to a thumbnail request means "this file has no
// preview": CDF refusing to make this very file's thumbnail with a 4xx, as for a corrupt or
// oversized image. A missing file, or a refusal of the user, stays an error.
func iconReason(err error) (string, bool) {
	var ae *cdf.APIError
	if errors.As(err, &ae) && len(ae.Missing) == 0 {
		switch ae.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			return sentence(ae.Message), true
		}
	}
	return "", false
}

// placeholder answers an image route with a small SVG tile saying "No preview" and why, and
// logs that at INFO: it is a property of the file, not a fault of the server. The tile is
// cached like the image it stands for (privately, for a while): the file only changes with a
// new version.
func (s *server) placeholder(c echo.Context, fileID int64, reason string) error {
	s.log.Info("no preview", "path", c.Request().URL.Path, "file", fileID, "reason", reason)
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=300")
	h.Set(noPreviewHeader, headerText(reason))
	return c.Blob(http.StatusOK, "image/svg+xml", placeholderSVG(reason))
}

// placeholderSVG draws a 4:3 "No preview" tile (the browser's thumbnail size) with the
// reason in up to three lines below it and in its title.
func placeholderSVG(reason string) []byte {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="256" height="192" viewBox="0 0 256 192" role="img" aria-label="No preview: ` +
		html.EscapeString(reason) + `">`)
	b.WriteString(`<title>No preview: ` + html.EscapeString(reason) + `</title>`)
	b.WriteString(`<rect width="256" height="192" fill="#1b1e25"/>`)
	b.WriteString(`<text x="128" y="78" text-anchor="middle" font-family="system-ui, sans-serif" font-size="17" fill="#9aa2b1">No preview</text>`)
	for i, line := range wrap(reason, 36, 3) {
		fmt.Fprintf(&b, `<text x="128" y="%d" text-anchor="middle" font-family="system-ui, sans-serif" font-size="11" fill="#6b7383">%s</text>`,
			106+i*15, html.EscapeString(line))
	}
	b.WriteString(`</svg>`)
	return []byte(b.String())
}

// wrap breaks text into at most lines lines of at most width characters, at spaces, ending
// the last one with "…" when the text is longer.
func wrap(text string, width, lines int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(text) {
		if len([]rune(w)) > width {
			w = string([]rune(w)[:width-1]) + "…"
		}
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= width:
			line += " " + w
		default:
			out = append(out, line)
			line = w
		}
		if len(out) == lines {
			last := []rune(out[lines-1])
			out[lines-1] = strings.TrimSpace(string(last[:min(len(last), width-1)])) + "…"
			return out
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// headerText makes s safe and legible as a header value: printable ASCII only ("×" becomes
// "x"; anything else outside ASCII "?"), since browsers read header bytes as Latin-1.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '×':
			return 'x'
		case r < 0x20 || r == 0x7f:
			return ' '
		case r > 0x7e:
			return '?'
		}
		return r
	}, s)
}
