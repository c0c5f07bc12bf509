package segment

import (
	"context"
	"reflect"
	"testing"
)

// Two objects of the same colour: a second click on the other one must add it, not lose the
// first, and a negative click must not drop the far part of what it splits.
func TestSecondClickKeepsFirstObject(t *testing.T) {
	const w, h = 320, 240
	a, b := ellipse(90, 120, 50, 40), ellipse(230, 120, 50, 40)
	img, gt := scene(w, h, 21, func(x, y int) bool { return a(x, y) || b(x, y) })
	_, gtA := scene(w, h, 21, a)
	src := pngSource(t, "two", img)
	e := New(Options{})
	p1 := Prompt{Points: []Point{{X: 90.5 / w, Y: 120.5 / h, Label: 1}}}
	s1 := best(t)(e.Segment(context.Background(), src, p1))
	m1 := rasterise(s1.Polygons, w, h)
	if v := iouBool(m1, gtA); v < 0.9 && iouBool(m1, gt) < 0.9 {
		t.Fatalf("first click: IoU %.3f with its object", v)
	}
	p2 := Prompt{Points: append(p1.Points, Point{X: 230.5 / w, Y: 120.5 / h, Label: 1})}
	s2 := best(t)(e.Segment(context.Background(), src, p2))
	m2 := rasterise(s2.Polygons, w, h)
	var keptA, inA int
	for i := range gtA {
		if gtA[i] {
			inA++
			if m2[i] {
				keptA++
			}
		}
	}
	if float64(keptA) < 0.95*float64(inA) {
		t.Errorf("second click lost the first object: %d of %d pixels kept", keptA, inA)
	}
	if v := iouBool(m2, gt); v < 0.9 {
		t.Errorf("two clicks: IoU %.3f with both objects", v)
	}
}

// The answer to a click prompt must not depend on what was asked before: the previous answer
// it builds on is recomputed when it is not cached.
func TestClickHistoryDeterministic(t *testing.T) {
	const w, h = 256, 192
	img, _ := scene(w, h, 9, ellipse(120, 100, 60, 40))
	src := pngSource(t, "h", img)
	pts := []Point{{X: 0.47, Y: 0.52, Label: 1}, {X: 0.3, Y: 0.5, Label: 1}, {X: 0.9, Y: 0.2, Label: 0}, {X: 0.6, Y: 0.45, Label: 1}}
	seq := New(Options{})
	var want [][]Segment
	for k := 1; k <= len(pts); k++ {
		s, err := seq.Segment(context.Background(), src, Prompt{Points: pts[:k]})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	for k := 1; k <= len(pts); k++ {
		fresh := New(Options{})
		// Unrelated prompts first, then the prompt cold.
		fresh.Segment(context.Background(), src, Prompt{Points: []Point{{X: 0.1, Y: 0.1, Label: 1}}})
		got, err := fresh.Segment(context.Background(), src, Prompt{Points: pts[:k]})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want[k-1]) {
			t.Errorf("%d clicks: the answer depends on what was asked before", k)
		}
	}
}

func TestFillHolesOpensNegativeHole(t *testing.T) {
	const w, h = 9, 9
	lab := make([]uint8, w*h)
	for y := 2; y < 7; y++ {
		for x := 2; x < 7; x++ {
			lab[y*w+x] = 1
		}
	}
	lab[4*w+4] = 0 // a one-pixel hole
	plain := append([]uint8(nil), lab...)
	fillHoles(plain, w, h, nil)
	if plain[4*w+4] != 1 {
		t.Fatal("a hole without a negative seed stays open")
	}
	fillHoles(lab, w, h, []int32{4*w + 4})
	if lab[4*w+4] != 0 {
		t.Fatal("a hole with a negative seed was filled")
	}
	// The hole now reaches the outside: filling again changes nothing.
	again := append([]uint8(nil), lab...)
	fillHoles(again, w, h, nil)
	if !reflect.DeepEqual(again, lab) {
		t.Error("the opened hole is still enclosed")
	}
	if n := area(lab); n < 25-4 {
		t.Errorf("opening cut away too much: %d pixels left", n)
	}
}
