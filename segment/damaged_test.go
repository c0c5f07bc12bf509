package segment

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"testing"
)

// TestTruncatedImagesAreDamaged: a file cut inside its pixel data (a truncated upload) is
// ErrDamaged — still ErrUnsupported — for JPEG and PNG alike, wherever the cut falls; a file
// that is simply not an image is not.
func TestTruncatedImagesAreDamaged(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			img.Set(x, y, color.NRGBA{uint8(x * 2), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var j, p bytes.Buffer
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) Source {
		return Source{Key: string(b[:min(len(b), 64)]) + string(rune(len(b))), Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}}
	}
	e := New(Options{})
	click := Prompt{Points: []Point{{X: 0.5, Y: 0.5, Label: 1}}}
	for name, data := range map[string][]byte{"jpeg": j.Bytes(), "png": p.Bytes()} {
		for _, frac := range []float64{0.5, 0.8, 0.95} {
			cut := data[:int(float64(len(data))*frac)]
			_, err := e.Segment(context.Background(), open(cut), click)
			if !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s cut at %.0f%%: %v, want ErrDamaged (and ErrUnsupported)", name, frac*100, err)
			}
		}
	}
	if _, err := e.Segment(context.Background(), open([]byte("plain text, not an image")), click); errors.Is(err, ErrDamaged) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("not an image: %v, want ErrUnsupported only", err)
	}
}
