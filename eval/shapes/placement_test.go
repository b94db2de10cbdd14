package shapes

import (
	"math"
	"testing"

	"github.com/sprint-distill/sprint/data"
)

// TestPlacement: renders of the scene itself place every object (with its shape); the same
// objects recoloured still count as placed, with another shape as placed but not shaped;
// objects moved by more than half their side are not placed; one detection serves one object.
func TestPlacement(t *testing.T) {
	d := DefaultDetector()
	cfg := data.DefaultShapesConfig()
	var all []Placement
	for i := range 40 {
		s := data.SampleScene(cfg, i)
		p := Place(s, d.Detect(render(t, s)))
		if p.Placed != p.Objects || p.Shaped != p.Objects {
			t.Fatalf("scene %d: clean render placement %+v", i, p)
		}
		all = append(all, p)
	}
	if a := AggregatePlacement(all); a.Placed != 1 || a.Shaped != 1 || a.AllPlaced != 1 || a.Objects < 40 {
		t.Errorf("aggregate of clean renders %+v", a)
	}

	want := data.Scene{Size: 32, Objects: []data.Object{obj("circle", "red", 2, 3, 10), obj("square", "blue", 18, 18, 10)}}
	recolored := data.Scene{Size: 32, Objects: []data.Object{obj("triangle", "green", 2, 3, 10), obj("square", "yellow", 18, 18, 10)}}
	p := Place(want, d.Detect(render(t, recolored)))
	if p.Placed != 2 || p.Shaped != 1 {
		t.Errorf("recoloured/reshaped objects at the right place: %+v, want 2 placed, 1 shaped", p)
	}
	moved := data.Scene{Size: 32, Objects: []data.Object{obj("circle", "red", 8, 3, 10), obj("square", "blue", 18, 6, 10)}}
	if p := Place(want, d.Detect(render(t, moved))); p.Placed != 0 {
		t.Errorf("moved objects placed: %+v", p)
	}
	twin := data.Scene{Size: 32, Objects: []data.Object{obj("circle", "red", 2, 3, 10), obj("circle", "red", 2, 3, 10)}}
	if p := Place(twin, d.Detect(render(t, data.Scene{Size: 32, Objects: twin.Objects[:1]}))); p.Placed != 1 {
		t.Errorf("one detection served %d objects", p.Placed)
	}
	if a := AggregatePlacement([]Placement{{Objects: 2, Placed: 1, Shaped: 0}, {Objects: 1, Placed: 1, Shaped: 1}}); math.Abs(a.Placed-2.0/3) > 1e-12 || a.AllPlaced != 0.5 || a.Shaped != 1.0/3 {
		t.Errorf("aggregate %+v", a)
	}
	if iou := boxIoU([4]int{0, 0, 4, 4}, [4]int{2, 0, 6, 4}); math.Abs(iou-1.0/3) > 1e-12 {
		t.Errorf("IoU of half-overlapping boxes %v, want 1/3", iou)
	}
}
