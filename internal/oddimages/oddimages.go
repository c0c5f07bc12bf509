// Package oddimages builds, for tests, the odd image files cameras and other tools write:
// EXIF-rotated JPEGs and PNGs, CMYK and YCCK JPEGs, 12-bit JPEG headers, animated GIFs, and the first
// bytes of WebP and HEIC files. The files are real (every decoder that reads the format reads
// them); nothing here is used outside tests.
package oddimages

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// JPEG encodes img at quality 95.
func JPEG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		panic(err) // only for writer errors, and a bytes.Buffer has none
	}
	return buf.Bytes()
}

// WithOrientation returns the JPEG data with an APP1 Exif segment right after SOI whose IFD0
// holds the orientation tag (0x0112) = o, in little-endian ("II") or big-endian ("MM") TIFF
// order. A camera writes it so: the stored pixels are as the sensor saw them.
func WithOrientation(data []byte, o int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II*\x00")
	if bigEndian {
		bo, tiff = binary.BigEndian, []byte("MM\x00*")
	}
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 2) // two entries: a resolution unit first, then the orientation
	for _, e := range [][2]uint16{{0x0128, 2}, {0x0112, uint16(o)}} {
		tiff = bo.AppendUint16(tiff, e[0])
		tiff = bo.AppendUint16(tiff, 3) // SHORT
		tiff = bo.AppendUint32(tiff, 1)
		tiff = bo.AppendUint16(tiff, e[1])
		tiff = append(tiff, 0, 0)
	}
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := []byte{0xff, 0xd8, 0xff, 0xe1}
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, data[2:]...)
}

// PNGWithOrientation encodes img as a PNG with an eXIf chunk (PNG 1.5) right after IHDR
// whose IFD0 holds the orientation tag = o, as WithOrientation writes it for a JPEG.
func PNGWithOrientation(img image.Image, o int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // only for writer errors, and a bytes.Buffer has none
	}
	b := buf.Bytes()
	exif := WithOrientation([]byte{0xff, 0xd8}, o, false)[12:] // SOI, APP1 marker and length, "Exif\0\0": then the TIFF data
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(exif)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, exif...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	const ihdrEnd = 8 + 8 + 13 + 4 // signature, IHDR's length and type, its data, its CRC
	out := append([]byte{}, b[:ihdrEnd]...)
	out = append(out, chunk...)
	return append(out, b[ihdrEnd:]...)
}

// Stored returns the image a camera stores for the upright scene when it tags the file with
// EXIF orientation o: turning it as o says gives upright back. It is built from two plain
// operations, a quarter turn clockwise and a left-right mirror, so it shares no code with the
// decoder it checks.
func Stored(upright image.Image, o int) *image.RGBA {
	m := toRGBA(upright)
	switch o {
	case 2: // shown mirrored: store the mirror
		return mirror(m)
	case 3:
		return turn(turn(m))
	case 4: // shown mirrored top to bottom = mirrored and turned half
		return mirror(turn(turn(m)))
	case 5: // transpose, its own inverse
		return mirror(turn(m))
	case 6: // shown turned a quarter clockwise: store it turned three quarters
		return turn(turn(turn(m)))
	case 7: // transverse, its own inverse
		return turn(turn(mirror(turn(m))))
	case 8: // shown turned a quarter counter-clockwise: store it turned a quarter clockwise
		return turn(m)
	}
	return m
}

func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			m.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return m
}

// turn turns m a quarter clockwise: its top row becomes the right column.
func turn(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			out.SetRGBA(h-1-y, x, m.RGBAAt(x, y))
		}
	}
	return out
}

// mirror mirrors m left to right.
func mirror(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := image.NewRGBA(m.Rect)
	for y := range h {
		for x := range w {
			out.SetRGBA(w-1-x, y, m.RGBAAt(x, y))
		}
	}
	return out
}

// FourComponentJPEG encodes img as a baseline 4-component JPEG as Adobe Photoshop writes
// them: an Adobe APP14 segment with colour transform 0 (CMYK, stored inverted) or, for ycck,
// 2 (YCCK: C, M and Y as YCbCr, and K inverted). Go's encoder writes no such
// file, so this one is built by hand; it keeps each 8×8 block's mean colour only (DC
// coefficients, all AC zero), so an image made of flat 8-pixel-aligned areas survives exactly.
func FourComponentJPEG(img *image.CMYK, ycck bool) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var out []byte
	seg := func(marker byte, payload []byte) {
		out = append(out, 0xff, marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
		out = append(out, payload...)
	}
	out = append(out, 0xff, 0xd8)
	transform := byte(0)
	if ycck {
		transform = 2
	}
	seg(0xee, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, transform})
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	seg(0xdb, dqt)
	sof := []byte{8}
	sof = binary.BigEndian.AppendUint16(sof, uint16(h))
	sof = binary.BigEndian.AppendUint16(sof, uint16(w))
	sof = append(sof, 4)
	for c := range 4 {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	seg(0xc0, sof)
	// The standard luminance DC table (JPEG Annex K.3), and an AC table holding only EOB.
	dcCounts := [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1}
	dht := append([]byte{0x00}, dcCounts[:]...)
	dht = append(dht, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	dht = append(dht, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00)
	seg(0xc4, dht)
	sos := []byte{4}
	for c := range 4 {
		sos = append(sos, byte(c+1), 0x00)
	}
	seg(0xda, append(sos, 0, 63, 0))

	// Canonical codes of the DC table.
	var dcCode [12]uint16
	var dcLen [12]int
	code, sym := uint16(0), 0
	for l := 1; l <= 16; l++ {
		for range dcCounts[l-1] {
			dcCode[sym], dcLen[sym] = code, l
			code++
			sym++
		}
		code <<= 1
	}
	var bw bitWriter
	var pred [4]int
	for by := 0; by < h; by += 8 {
		for bx := 0; bx < w; bx += 8 {
			for c := range 4 {
				v := blockMean(img, bx, by, c)
				stored := 255 - v // Adobe's inverted CMYK
				if ycck && c < 3 {
					stored = ycckComponent(img, bx, by, c)
				}
				dc := 8 * (stored - 128)
				diff := dc - pred[c]
				pred[c] = dc
				s, bits := magnitude(diff)
				bw.write(uint32(dcCode[s]), dcLen[s])
				bw.write(uint32(bits), s)
				bw.write(0, 1) // EOB
			}
		}
	}
	out = append(out, bw.flush()...)
	return append(out, 0xff, 0xd9)
}

// blockMean is the rounded mean of channel c over the 8×8 block at (bx, by), edges repeated.
func blockMean(img *image.CMYK, bx, by, c int) int {
	sum := 0
	for y := by; y < by+8; y++ {
		for x := bx; x < bx+8; x++ {
			p := img.CMYKAt(min(x, img.Rect.Max.X-1), min(y, img.Rect.Max.Y-1))
			sum += int([4]uint8{p.C, p.M, p.Y, p.K}[c])
		}
	}
	return (sum + 32) / 64
}

// ycckComponent is the Y, Cb or Cr of the block's C, M and Y taken as R, G and B: libjpeg
// inverts what YCbCr gives, which undoes Adobe's inversion, so only K is stored inverted.
func ycckComponent(img *image.CMYK, bx, by, c int) int {
	r, g, b := blockMean(img, bx, by, 0), blockMean(img, bx, by, 1), blockMean(img, bx, by, 2)
	y, cb, cr := color.RGBToYCbCr(uint8(r), uint8(g), uint8(b))
	return int([3]uint8{y, cb, cr}[c])
}

// magnitude is a DC difference's category and its bits as JPEG codes them.
func magnitude(v int) (int, int) {
	a := v
	if a < 0 {
		a = -a
	}
	s := 0
	for a > 0 {
		s++
		a >>= 1
	}
	if v < 0 {
		v += 1<<s - 1
	}
	return s, v
}

type bitWriter struct {
	out  []byte
	acc  uint32
	nacc int
}

func (b *bitWriter) write(bits uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		b.acc = b.acc<<1 | (bits>>i)&1
		b.nacc++
		if b.nacc == 8 {
			b.emit(byte(b.acc))
			b.acc, b.nacc = 0, 0
		}
	}
}

func (b *bitWriter) emit(c byte) {
	b.out = append(b.out, c)
	if c == 0xff {
		b.out = append(b.out, 0) // byte stuffing
	}
}

func (b *bitWriter) flush() []byte {
	for b.nacc != 0 {
		b.write(1, 1) // pad with ones
	}
	return b.out
}

// TwelveBitJPEGHeader is the start of an extended-sequential (SOF1) JPEG with 12-bit samples,
// as medical and scientific cameras write: enough for a header reader, no image data.
func TwelveBitJPEGHeader(w, h int) []byte {
	out := []byte{0xff, 0xd8, 0xff, 0xc1, 0, 11, 12}
	out = binary.BigEndian.AppendUint16(out, uint16(h))
	out = binary.BigEndian.AppendUint16(out, uint16(w))
	out = append(out, 1, 1, 0x11, 0)
	// A quantisation table and a scan start follow in a real file; readers stop before.
	return append(out, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0)
}

// WebPHeader is the start of a lossy WebP file (RIFF, WEBP, a VP8 chunk header).
func WebPHeader() []byte {
	return []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x10\x00\x10\x00")
}

// HEICHeader is the start of an iPhone's HEIC photo: an ftyp box with brand heic.
func HEICHeader() []byte {
	return []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x00meta")
}

// AnimatedGIF encodes frames as an animated GIF looping forever, each frame shown 0.1 s, on
// a logical screen the size of the first frame.
func AnimatedGIF(frames ...*image.Paletted) []byte {
	g := &gif.GIF{Image: frames, Delay: make([]int, len(frames))}
	for i := range g.Delay {
		g.Delay[i] = 10
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
