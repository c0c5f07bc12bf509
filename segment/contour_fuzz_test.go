package segment

import (
	"math"
	"testing"
)

// BenchmarkTracePolygons traces a 12 MP (4000×3000) mask: one large object with a roughened
// outline (perimeter about 10 000 px), a hole, and a few small parts.
func BenchmarkTracePolygons(b *testing.B) {
	const w, h = 4000, 3000
	smooth := &mask{w: w, h: h, pix: make([]uint8, w*h)}
	noisy := noisyBlob(w, h, 1200, 3, 9)
	for y := range h {
		for x := range w {
			dx, dy := (float64(x)+0.5-2000)/1500, (float64(y)+0.5-1500)/1000
			if dx*dx+dy*dy < 1 {
				smooth.pix[y*w+x] = 1
			}
		}
	}
	for _, m := range []*mask{smooth, noisy} {
		for y := 1400; y < 1600; y++ { // a hole
			for x := 1900; x < 2100; x++ {
				m.pix[y*w+x] = 0
			}
		}
		for i := range 20 { // specks and small parts
			x, y := 100+i*150, 100+(i%3)*40
			for dy := range i % 7 {
				for dx := range i % 5 {
					m.pix[(y+dy)*w+x+dx] = 1
				}
			}
		}
	}
	for _, bc := range []struct {
		name string
		m    *mask
	}{{"smooth", smooth}, {"noisy", noisy}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(tracePolygons(bc.m, 1000))
			}
			b.ReportMetric(float64(n), "parts")
		})
	}
}

// FuzzTracePolygons checks on arbitrary small masks that the unsimplified rings reproduce the
// filled parts exactly and that every simplified polygon is valid and within the vertex limit.
func FuzzTracePolygons(f *testing.F) {
	f.Add([]byte{3, 3, 0, 0xff, 0xff})
	f.Add([]byte{7, 5, 10, 0x5a, 0xa5, 0x0f, 0xf0, 0x33})
	f.Add([]byte{23, 1, 255, 0xff, 0x00, 0xff})
	f.Add([]byte{1, 23, 3, 0x81, 0x42, 0x24})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		w, h := 1+int(data[0])%32, 1+int(data[1])%32
		maxV := int(data[2]) * 4 // 0 (the default), 4..1020 (clamped)
		if data[2] == 1 {
			maxV = 3
		}
		bits := data[3:]
		m := &mask{w: w, h: h, pix: make([]uint8, w*h)}
		for i := range m.pix {
			if k := i / 8; k < len(bits) && bits[k]>>(i%8)&1 == 1 {
				m.pix[i] = 1
			}
		}
		ids, nParts := filledParts(m)
		rings := traceRings(m)
		if len(rings) != nParts {
			t.Fatalf("%d rings, %d parts", len(rings), nParts)
		}
		painted := make([]bool, w*h)
		for _, r := range rings {
			for i, in := range rasterRings(w, h, ringFloats(r)) {
				if in {
					if painted[i] {
						t.Fatalf("pixel %d painted twice", i)
					}
					painted[i] = true
				}
			}
		}
		for i, id := range ids {
			if (id >= 0) != painted[i] {
				t.Fatalf("pixel %d: filled %v, painted %v", i, id >= 0, painted[i])
			}
		}
		limit := maxV
		if limit <= 0 || limit > maxPolygonVertices {
			limit = maxPolygonVertices
		}
		ps := tracePolygons(m, maxV)
		checkPolygons(t, ps, limit)
		if nParts > 0 && len(ps) == 0 {
			t.Fatal("no polygon for a non-empty mask")
		}
		for _, p := range ps {
			for _, v := range p {
				if math.IsNaN(v.X) || math.IsNaN(v.Y) {
					t.Fatal("NaN vertex")
				}
			}
		}
	})
}
