package segment

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
)

// Orientation is an EXIF orientation (tag 0x0112): how a camera's stored pixels are turned to
// show the scene upright. Browsers apply it when they draw a JPEG (Chromium does so for <img>,
// createImageBitmap and canvas drawImage by default), so the engine applies it at decode too:
// prompts and polygons are in the orientation the user sees.
type Orientation uint8

// The eight EXIF orientations, named by what turns the stored image upright.
const (
	OrientNormal     Orientation = 1 // as stored
	OrientFlipH      Orientation = 2 // mirrored left to right
	OrientRotate180  Orientation = 3
	OrientFlipV      Orientation = 4 // mirrored top to bottom
	OrientTranspose  Orientation = 5 // mirrored along the top-left to bottom-right diagonal
	OrientRotate90   Orientation = 6 // turned 90° clockwise
	OrientTransverse Orientation = 7 // mirrored along the top-right to bottom-left diagonal
	OrientRotate270  Orientation = 8 // turned 90° counter-clockwise
)

// swaps reports whether the upright image is the stored one with width and height swapped.
func (o Orientation) swaps() bool { return o >= OrientTranspose && o <= OrientRotate270 }

// source maps a pixel (x, y) of the upright image to the stored image's pixel, for a stored
// image of w×h pixels.
func (o Orientation) source(x, y, w, h int) (int, int) {
	switch o {
	case OrientFlipH:
		return w - 1 - x, y
	case OrientRotate180:
		return w - 1 - x, h - 1 - y
	case OrientFlipV:
		return x, h - 1 - y
	case OrientTranspose:
		return y, x
	case OrientRotate90:
		return y, h - 1 - x
	case OrientTransverse:
		return w - 1 - y, h - 1 - x
	case OrientRotate270:
		return w - 1 - y, x
	}
	return x, y
}

// exifOrientation reads the orientation from the payload of a JPEG APP1 segment ("Exif\0\0"
// and a TIFF header). Anything else, or a damaged or out-of-range tag, is OrientNormal: the
// image is shown as stored, as a browser shows it.
func exifOrientation(seg []byte) Orientation {
	if !bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
		return OrientNormal
	}
	return tiffOrientation(seg[6:])
}

// tiffOrientation reads the orientation from EXIF data as a TIFF header and IFD0 (what a
// JPEG's APP1 holds after "Exif\0\0", and a PNG's eXIf chunk), with exifOrientation's rules.
func tiffOrientation(t []byte) Orientation {
	if len(t) < 8 {
		return OrientNormal
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return OrientNormal
	}
	ifd := int64(bo.Uint32(t[4:8]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return OrientNormal
	}
	n := int64(bo.Uint16(t[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			break
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// SHORT (3), one value, held in the first two bytes of the value field.
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 {
			return OrientNormal
		}
		if o := Orientation(bo.Uint16(t[e+8:])); o >= OrientNormal && o <= OrientRotate270 {
			return o
		}
		return OrientNormal
	}
	return OrientNormal
}

// orientPixels returns the upright copy of an interleaved image of w×h pixels and c channels
// and its size.
func orientPixels[T any](pix []T, w, h, c int, o Orientation) ([]T, int, int) {
	if o <= OrientNormal || o > OrientRotate270 || len(pix) == 0 {
		return pix, w, h
	}
	uw, uh := w, h
	if o.swaps() {
		uw, uh = h, w
	}
	out := make([]T, len(pix))
	for y := range uh {
		for x := range uw {
			sx, sy := o.source(x, y, w, h)
			copy(out[(y*uw+x)*c:(y*uw+x+1)*c], pix[(sy*w+sx)*c:(sy*w+sx+1)*c])
		}
	}
	return out, uw, uh
}

// Upright returns img turned as orientation o says, as an *image.RGBA (img itself for
// OrientNormal or an unknown orientation). Thumbnails use it so the image browser shows photos
// as the editor does.
func Upright(img image.Image, o Orientation) image.Image {
	if o <= OrientNormal || o > OrientRotate270 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	uw, uh := w, h
	if o.swaps() {
		uw, uh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, uw, uh))
	for y := range uh {
		for x := range uw {
			sx, sy := o.source(x, y, w, h)
			out.Set(x, y, color.RGBAModel.Convert(img.At(b.Min.X+sx, b.Min.Y+sy)))
		}
	}
	return out
}
