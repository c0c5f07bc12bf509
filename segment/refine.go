package segment

import (
	"math"
	"slices"
)

// refine re-cuts a working-resolution labelling on the finer copy of the image, in a narrow
// band around its outline: the working copy is small for speed, and at its resolution an
// outline is off by up to a working pixel, several original pixels on a large photo. The
// colour models, hard constraints and geodesic evidence are those of the working cut; only
// the band's pixels are free, so this costs a fraction of a working cut.
func (pr *problem) refine(lab []uint8) *mask {
	wi := pr.wi
	if wi.fw == 0 || pr.fgM.k == 0 || pr.bgM.k == 0 || pr.tune.bandRadius <= 0 {
		return upsampleMask(wi, lab)
	}
	fw, fh := wi.fw, wi.fh
	m := resampleLabels(lab, wi.w, wi.h, fw, fh)
	n := fw * fh
	// The working pixel under each fine pixel, and its hard label.
	wx := make([]int32, fw)
	for x := range fw {
		wx[x] = int32(min(int((float64(x)+0.5)*float64(wi.w)/float64(fw)), wi.w-1))
	}
	wy := make([]int32, fh)
	for y := range fh {
		wy[y] = int32(min(int((float64(y)+0.5)*float64(wi.h)/float64(fh)), wi.h-1))
	}
	hardAt := func(x, y int) int8 {
		px, py := int(wx[x]), int(wy[y])
		if px < pr.x0 || px >= pr.x1 || py < pr.y0 || py >= pr.y1 {
			return -1
		}
		return pr.hard[py*wi.w+px]
	}

	// Band: pixels whose (2B+1)² window holds both labels, from an integral image.
	B := pr.tune.bandRadius
	W := fw + 1
	integ := make([]int32, W*(fh+1))
	for y := range fh {
		var row int32
		for x := range fw {
			row += int32(m.pix[y*fw+x])
			integ[(y+1)*W+x+1] = integ[y*W+x+1] + row
		}
	}
	node := make([]int32, n)
	var pix []int32
	for y := range fh {
		y0, y1 := max(0, y-B), min(fh, y+B+1)
		for x := range fw {
			node[y*fw+x] = -1
			x0, x1 := max(0, x-B), min(fw, x+B+1)
			s := integ[y1*W+x1] - integ[y0*W+x1] - integ[y1*W+x0] + integ[y0*W+x0]
			if s == 0 || int(s) == (y1-y0)*(x1-x0) {
				continue
			}
			if hv := hardAt(x, y); hv != 0 {
				m.pix[y*fw+x] = uint8((hv + 1) / 2)
				continue
			}
			node[y*fw+x] = int32(len(pix))
			pix = append(pix, int32(y*fw+x))
		}
	}
	if len(pix) == 0 {
		return m
	}

	support := slices.Clone(m.pix)
	g := newFlowGraph(len(pix), 8*len(pix))
	gamma := gcGamma * pr.tune.gammaMul
	for i, p := range pix {
		g.first[i+1] = int32(8 * (i + 1))
		x, y := int(p)%fw, int(p)/fw
		var toS, toT float64
		for k := range 8 {
			a := 8*i + k
			g.head[a], g.sister[a] = int32(i), int32(a)
			var dx, dy int
			if k < 4 {
				dx, dy = dirs[k][0], dirs[k][1]
			} else {
				dx, dy = -dirs[k-4][0], -dirs[k-4][1]
			}
			nx, ny := x+dx, y+dy
			if nx < 0 || ny < 0 || nx >= fw || ny >= fh {
				continue
			}
			q := ny*fw + nx
			wgt := gamma * math.Exp(-wi.fbeta*float64(colourD2u8(wi.frgb, int(p), q)))
			if dx != 0 && dy != 0 {
				wgt /= math.Sqrt2
			}
			if j := node[q]; j >= 0 {
				g.head[a] = j
				g.sister[a] = 8*j + int32((k+4)%8)
				g.rcap[a] = float32(wgt)
				continue
			}
			// A fixed neighbour: disagreeing with it costs the pairwise term.
			if m.pix[q] == 1 {
				toS += wgt
			} else {
				toT += wgt
			}
		}
		r, gg, b := float64(wi.frgb[3*p]), float64(wi.frgb[3*p+1]), float64(wi.frgb[3*p+2])
		pf, pb := pr.prior(int(wy[y])*wi.w + int(wx[x]))
		g.addTerminal(i, float32(pr.bgM.nll(r, gg, b)+pb+toS), float32(pr.fgM.nll(r, gg, b)+pf+toT))
	}
	g.stop = pr.expired
	if !g.maxflow() {
		return upsampleMask(wi, lab)
	}
	for i, p := range pix {
		if g.inSource(i) {
			m.pix[p] = 1
		} else {
			m.pix[p] = 0
		}
	}
	// Seeds at fine resolution: the fine pixel at the centre of each working seed pixel.
	fine := func(ws []int32) []int32 {
		out := make([]int32, 0, len(ws))
		for _, s := range ws {
			x, y := int(s)%wi.w, int(s)/wi.w
			fx := min(int((float64(x)+0.5)*float64(fw)/float64(wi.w)), fw-1)
			fy := min(int((float64(y)+0.5)*float64(fh)/float64(wi.h)), fh-1)
			out = append(out, int32(fy*fw+fx))
		}
		return out
	}
	keepParts(m.pix, fw, fh, fine(pr.fgSeeds), support)
	fillHoles(m.pix, fw, fh, fine(pr.bgSeeds))
	return m
}
