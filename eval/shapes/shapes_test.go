package shapes

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/sprint-distill/sprint/data"
)

func render(t *testing.T, s data.Scene) *image.RGBA {
	t.Helper()
	img, err := data.RenderScene(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func obj(shape, col string, x0, y0, side int) data.Object {
	return data.Object{Shape: shape, Color: col, Box: [4]int{x0, y0, x0 + side, y0 + side}}
}

func TestDetectExactOnRenders(t *testing.T) {
	scenes := []data.Scene{
		{Size: 32, Objects: []data.Object{obj("circle", "red", 2, 3, 9)}},
		{Size: 32, Objects: []data.Object{obj("square", "blue", 20, 20, 8), obj("triangle", "green", 1, 1, 10)}},
		{Size: 32, Objects: []data.Object{obj("triangle", "yellow", 3, 18, 11), obj("circle", "green", 18, 2, 12), obj("square", "red", 18, 22, 6)}},
	}
	// Plus scenes the dataset itself draws: every object must come back.
	cfg := data.DefaultShapesConfig()
	for i := 0; i < 40; i++ {
		scenes = append(scenes, data.SampleScene(cfg, i))
	}
	d := DefaultDetector()
	for i, s := range scenes {
		dets := d.Detect(render(t, s))
		if len(dets) != len(s.Objects) {
			t.Fatalf("scene %d: %d detections, want %d: %+v", i, len(dets), len(s.Objects), dets)
		}
		for _, o := range s.Objects {
			found := false
			for _, det := range dets {
				if det.Shape == o.Shape && det.Color == o.Color && det.IoU == 1 {
					ox, oy := o.Center()
					dx, dy := det.Center()
					if math.Abs(ox-dx) <= 0.5 && math.Abs(oy-dy) <= 1 {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("scene %d: object %+v not detected exactly in %+v", i, o, dets)
			}
		}
		r := Score(s, dets)
		if !r.Exact || !r.Object || !r.Color || !r.Count || (r.HasPosition && !r.Position) {
			t.Errorf("scene %d: render scored %+v, want all true", i, r)
		}
	}
}

func TestDetectNoiseAndSpeckles(t *testing.T) {
	s := data.Scene{Size: 32, Objects: []data.Object{obj("square", "red", 4, 4, 10)}}
	img := render(t, s)
	// Perturb colours within the detector's radius and add a 2-pixel speckle.
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := img.RGBAAt(x, y)
			c.R = uint8(max(0, min(255, int(c.R)+((x*7+y*3)%41)-20)))
			c.G = uint8(max(0, min(255, int(c.G)+((x*5+y*11)%31))))
			img.SetRGBA(x, y, c)
		}
	}
	img.SetRGBA(30, 30, color.RGBA{0, 0, 255, 255})
	img.SetRGBA(30, 31, color.RGBA{0, 0, 255, 255})
	dets := DefaultDetector().Detect(img)
	if len(dets) != 1 || dets[0].Shape != "square" || dets[0].Color != "red" || dets[0].Box != [4]int{4, 4, 14, 14} {
		t.Fatalf("detections %+v", dets)
	}
}

func TestScoreRules(t *testing.T) {
	scene := data.Scene{Size: 32, Objects: []data.Object{
		obj("circle", "red", 1, 10, 6), obj("circle", "red", 1, 20, 6), obj("square", "blue", 20, 12, 8)}}
	// Caption: "two red circles left of a blue square".
	if got := data.Caption(scene); got != "two red circles left of a blue square" {
		t.Fatalf("caption %q", got)
	}
	det := func(shape, col string, x0, y0, side int) Detection {
		return Detection{Shape: shape, Color: col, Box: [4]int{x0, y0, x0 + side, y0 + side}}
	}
	cases := []struct {
		name string
		got  []Detection
		want Result
	}{
		{"exact", []Detection{det("circle", "red", 1, 10, 6), det("circle", "red", 2, 22, 5), det("square", "blue", 22, 1, 7)},
			Result{true, true, true, true, true, true}},
		{"swapped sides", []Detection{det("circle", "red", 24, 10, 6), det("circle", "red", 24, 20, 6), det("square", "blue", 2, 12, 8)},
			Result{true, true, true, false, true, false}},
		{"one circle missing", []Detection{det("circle", "red", 1, 10, 6), det("square", "blue", 20, 12, 8)},
			Result{true, true, false, true, true, false}},
		{"wrong colour", []Detection{det("circle", "green", 1, 10, 6), det("circle", "green", 1, 20, 6), det("square", "blue", 20, 12, 8)},
			Result{true, false, false, false, true, false}},
		{"extra object", []Detection{det("circle", "red", 1, 10, 6), det("circle", "red", 1, 20, 6), det("square", "blue", 20, 12, 8), det("triangle", "yellow", 12, 0, 4)},
			Result{true, true, true, true, true, false}},
		{"nothing", nil, Result{false, false, false, false, true, false}},
	}
	var rs []Result
	for _, c := range cases {
		got := Score(scene, c.got)
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		rs = append(rs, got)
	}
	a := Aggregate(rs)
	if a.Images != 6 || a.PositionImages != 6 || a.Object != 5.0/6 || a.Color != 4.0/6 || a.Count != 3.0/6 || a.Position != 3.0/6 || a.Exact != 1.0/6 {
		t.Fatalf("aggregate %+v", a)
	}
}

func TestScoreVerticalAndThreeGroups(t *testing.T) {
	above := data.Scene{Size: 32, Objects: []data.Object{obj("square", "green", 10, 1, 8), obj("circle", "yellow", 12, 20, 8)}}
	if data.Caption(above) != "a green square above a yellow circle" {
		t.Fatalf("caption %q", data.Caption(above))
	}
	flipped := []Detection{{Shape: "square", Color: "green", Box: [4]int{10, 20, 18, 28}}, {Shape: "circle", Color: "yellow", Box: [4]int{12, 1, 20, 9}}}
	if r := Score(above, flipped); r.Position || !r.Count {
		t.Fatalf("vertical flip scored %+v", r)
	}
	three := data.Scene{Size: 32, Objects: []data.Object{obj("square", "green", 1, 1, 6), obj("circle", "red", 12, 20, 6), obj("triangle", "blue", 24, 5, 6)}}
	d := DefaultDetector().Detect(render(t, three))
	if r := Score(three, d); !r.Position || !r.Exact {
		t.Fatalf("three groups %+v", r)
	}
	d[0], d[1] = d[1], d[0]
	d[0].Box, d[1].Box = d[1].Box, d[0].Box // swap the positions of two groups
	if r := Score(three, d); r.Position {
		t.Fatalf("swapped order still scored in position: %+v", r)
	}
}

func TestFeatures(t *testing.T) {
	d := DefaultDetector()
	black := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range black.Pix {
		if i%4 == 3 {
			black.Pix[i] = 255
		}
	}
	f := d.Features(black)
	if len(f) != FeatureDim || FeatureDim != 69 {
		t.Fatalf("dim %d/%d", len(f), FeatureDim)
	}
	for i, v := range f {
		want := 0.0
		if i == 3*FeatureGrid*FeatureGrid { // background fraction
			want = 1
		}
		if v != want {
			t.Fatalf("black feature %d = %v, want %v", i, v, want)
		}
	}
	// A red square filling the top-left cell (8x8 of a 32x32 image).
	img := render(t, data.Scene{Size: 32, Objects: []data.Object{obj("square", "red", 0, 0, 8)}})
	f = d.Features(img)
	if f[0] != 1 || f[1] != 0 || f[3] != 0 {
		t.Fatalf("cell 0 RGB %v", f[:6])
	}
	co := 3 * FeatureGrid * FeatureGrid
	if math.Abs(f[co]-(1-64.0/1024)) > 1e-12 || math.Abs(f[co+1]-64.0/1024) > 1e-12 {
		t.Fatalf("colour fractions %v", f[co:co+5])
	}
	// Edges: the square's right and bottom borders lie in cells 1 and 4 (their first column/row
	// differs from the square's last), so cell 0 has gradient only inside: its own right/bottom
	// neighbours at x=7 and y=7 step from red to black: 8+8 pixel transitions of luminance 0.299.
	g0 := f[co+5]
	if math.Abs(g0-16*0.299/64) > 1e-12 {
		t.Fatalf("gradient cell 0 = %v", g0)
	}
}
