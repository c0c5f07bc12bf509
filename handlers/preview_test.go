package handlers_test

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
)

// pngHeader is a PNG that declares w×h pixels and holds almost none: a file too large to
// preview that costs nothing to store.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// TestNoPreviewPlaceholder: the thumbnail and the content of an image that is too large or
// corrupt answer a cacheable "No preview" SVG tile that says why (in the tile, its title and a
// header), logged at INFO, not a 502 logged as an error; the browser page shows the tile.
func TestNoPreviewPlaceholder(t *testing.T) {
	a := setup(t, options{raw: map[string][]byte{
		"bad/corrupt.jpg": []byte("\xff\xd8\xff\xe0 not really a JPEG"),
		"bad/huge.png":    pngHeader(30000, 30000),
	}})
	for _, tt := range []struct{ file, route, reason string }{
		{"corrupt.jpg", "icon", "corrupt"},
		{"corrupt.jpg", "content", "cannot be read"},
		{"huge.png", "icon", "too large"},
		{"huge.png", "content", "Too large: 30000×30000 pixels"},
	} {
		a.logs.Reset()
		path := fmt.Sprintf("/files/%d/%s", a.files[tt.file], tt.route)
		res, err := a.client.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("%s of %s: %d %q, want 200 image/svg+xml", tt.route, tt.file, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		if cc := res.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
			t.Errorf("%s of %s: Cache-Control %q, want a private cache", tt.route, tt.file, cc)
		}
		if h := res.Header.Get("X-Lasso-No-Preview"); !strings.Contains(strings.ToLower(h), strings.ToLower(strings.ReplaceAll(tt.reason, "×", "x"))) {
			t.Errorf("%s of %s: X-Lasso-No-Preview %q, want it to say %q", tt.route, tt.file, h, tt.reason)
		}
		var svg struct {
			XMLName xml.Name `xml:"svg"`
			Title   string   `xml:"title"`
			Text    []string `xml:"text"`
		}
		if err := xml.Unmarshal(body, &svg); err != nil {
			t.Errorf("%s of %s: not an SVG: %v: %s", tt.route, tt.file, err, body)
			continue
		}
		shown := strings.Join(svg.Text, " ")
		if !strings.Contains(shown, "No preview") || !strings.Contains(strings.ToLower(svg.Title+shown), strings.ToLower(tt.reason)) {
			t.Errorf("%s of %s: the tile shows %q (title %q), want No preview and %q", tt.route, tt.file, shown, svg.Title, tt.reason)
		}
		logs := a.logs.String()
		if strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, `level=INFO msg="no preview"`) {
			t.Errorf("%s of %s logged %s; want one INFO line", tt.route, tt.file, logs)
		}
	}
	// The browser lists them with their thumbnail URL, which now draws the tile.
	doc := a.page(t, "/?dir=/bad", http.StatusOK)
	if n := doc.Find(`.thumb img[src$="/icon"]`).Length(); n != 2 {
		t.Errorf("the browser shows %d thumbnails for the two files, want 2", n)
	}
	// A missing file stays an error, not a tile.
	res, err := a.client.Get(a.url + "/files/999999/icon")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("icon of a missing file: %d, want 404", res.StatusCode)
	}
}
