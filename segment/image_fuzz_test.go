package segment

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// fuzzMaxPixels keeps every decode the fuzzer reaches small and quick.
const fuzzMaxPixels = 64 * 64

// decodedBytes is what the decoded image's pixel buffers hold.
func decodedBytes(img image.Image) int64 {
	switch m := img.(type) {
	case *image.YCbCr:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr))
	case *image.Gray:
		return int64(len(m.Pix))
	case *image.Gray16:
		return int64(len(m.Pix))
	case *image.RGBA:
		return int64(len(m.Pix))
	case *image.RGBA64:
		return int64(len(m.Pix))
	case *image.NRGBA:
		return int64(len(m.Pix))
	case *image.NRGBA64:
		return int64(len(m.Pix))
	case *image.Paletted:
		return int64(len(m.Pix))
	case *image.CMYK:
		return int64(len(m.Pix))
	}
	return 0
}

// FuzzImageHeader feeds any bytes to MeasureImage and to the engine's loader with a pixel
// limit. Neither panics; their errors wrap ErrUnsupported or ErrTooLarge; where the standard
// library reads a size from the header, MeasureImage reads the same one; an image measured
// over the limit is refused as too large before it is decoded; an image the loader accepts
// is within the limit, and the decode allocates no more than MeasureImage said it would.
func FuzzImageHeader(f *testing.F) {
	grey := image.NewGray(image.Rect(0, 0, 5, 3))
	rgba := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	rgba.SetNRGBA(1, 1, color.NRGBA{1, 2, 3, 128})
	pal := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.Black, color.White})
	deep := image.NewRGBA64(image.Rect(0, 0, 2, 7))
	deep.SetRGBA64(0, 0, color.RGBA64{0x1234, 0, 0, 0xffff})
	for _, img := range []image.Image{grey, rgba, pal, deep, flat16{65, 64}} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	for _, img := range []image.Image{grey, image.NewYCbCr(image.Rect(0, 0, 17, 9), image.YCbCrSubsampleRatio420), image.NewCMYK(image.Rect(0, 0, 8, 8))} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x7f\xff\xff\xff\x7f\xff\xff\xff\x08\x02\x00\x00\x00"))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01})
	f.Add([]byte{0xff, 0xd8, 0xff})
	f.Add([]byte("GIF89a"))
	var anim bytes.Buffer
	if err := gif.EncodeAll(&anim, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{10, 10}}); err != nil {
		f.Fatal(err)
	}
	f.Add(anim.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		size, err := MeasureImage(bytes.NewReader(data))
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("MeasureImage error %v does not wrap ErrUnsupported", err)
		}
		measured := err == nil
		if measured && (size.Width <= 0 || size.Height <= 0 || size.Bytes < int64(size.Width)*int64(size.Height) || size.Model == "") {
			t.Fatalf("measured %+v", size)
		}
		var cfg image.Config
		var cfgErr error = errors.New("neither format")
		switch {
		case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
			cfg, cfgErr = jpeg.DecodeConfig(bytes.NewReader(data))
		case bytes.HasPrefix(data, []byte(pngSignature)):
			cfg, cfgErr = png.DecodeConfig(bytes.NewReader(data))
		case isGIF(data):
			cfg, cfgErr = gif.DecodeConfig(bytes.NewReader(data))
		}
		if measured && cfgErr == nil && (cfg.Width != size.Width || cfg.Height != size.Height) {
			t.Fatalf("MeasureImage %dx%d, the standard library %dx%d", size.Width, size.Height, cfg.Width, cfg.Height)
		}

		wi, err := loadWorkImage(context.Background(), bytesSource("fuzz", data), fuzzMaxPixels, 32)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("loader error %v wraps neither ErrUnsupported nor ErrTooLarge", err)
			}
			if measured && cfgErr == nil && size.Check(fuzzMaxPixels, 0) != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%+v is over the limit, refused with %v", size, err)
			}
			return
		}
		if wi == nil {
			t.Fatal("no error and no image")
		}
		if !measured || cfgErr != nil {
			t.Fatalf("loaded an image MeasureImage (%v) or DecodeConfig (%v) refused", measured, cfgErr)
		}
		if px := int64(size.Width) * int64(size.Height); px > fuzzMaxPixels {
			t.Fatalf("loaded %d pixels over the limit of %d", px, fuzzMaxPixels)
		}
		var img image.Image
		switch {
		case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
			img, err = jpeg.Decode(bytes.NewReader(data))
		case isGIF(data):
			img, err = firstFrame(bytes.NewReader(data))
		default:
			img, err = png.Decode(bytes.NewReader(data))
		}
		if err != nil {
			t.Fatalf("the loader decoded what the standard library does not: %v", err)
		}
		if got := decodedBytes(img); got > size.Bytes {
			t.Fatalf("%s %T decodes to %d bytes, measured %d", size.Model, img, got, size.Bytes)
		}
	})
}
