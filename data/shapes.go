package data

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sort"
	"strings"
)

// Shape classes of the shapes dataset.
const (
	ShapeCircle   = "circle"
	ShapeSquare   = "square"
	ShapeTriangle = "triangle"
)

// ShapeClasses lists the shape classes in their canonical order.
var ShapeClasses = []string{ShapeCircle, ShapeSquare, ShapeTriangle}

// PaletteColor is one colour of the shapes palette.
type PaletteColor struct {
	Name string
	RGB  color.RGBA
}

// Palette is the fixed colour palette of the shapes dataset. Objects are drawn in exactly these
// colours on a Background canvas, without anti-aliasing.
var Palette = []PaletteColor{
	{"red", color.RGBA{255, 0, 0, 255}},
	{"green", color.RGBA{0, 255, 0, 255}},
	{"blue", color.RGBA{0, 0, 255, 255}},
	{"yellow", color.RGBA{255, 255, 0, 255}},
}

// Background is the canvas colour of the shapes dataset.
var Background = color.RGBA{0, 0, 0, 255}

// PaletteRGB returns the colour named name.
func PaletteRGB(name string) (color.RGBA, bool) {
	for _, c := range Palette {
		if c.Name == name {
			return c.RGB, true
		}
	}
	return color.RGBA{}, false
}

// Object is one shape of a scene.
type Object struct {
	// Shape is one of ShapeClasses.
	Shape string `json:"shape"`
	// Color is the name of a Palette colour.
	Color string `json:"color"`
	// Box is the square bounding box [x0, y0, x1, y1] in pixels, half-open: the object covers columns
	// x0..x1-1 and rows y0..y1-1, with y growing downwards.
	Box [4]int `json:"box"`
}

// Center is the centre of the object's box in pixel coordinates.
func (o Object) Center() (x, y float64) {
	return float64(o.Box[0]+o.Box[2]) / 2, float64(o.Box[1]+o.Box[3]) / 2
}

// Rect is the box as an image.Rectangle.
func (o Object) Rect() image.Rectangle { return image.Rect(o.Box[0], o.Box[1], o.Box[2], o.Box[3]) }

// Scene is the ground truth of one shapes image; rows of the shapes dataset keep it, as JSON, in the
// meta column.
type Scene struct {
	// Size is the width and height of the image in pixels.
	Size int `json:"size"`
	// Objects in drawing order (they never overlap in generated scenes).
	Objects []Object `json:"objects"`
}

// ParseScene decodes a Scene from the JSON kept in a row's meta column.
func ParseScene(js string) (Scene, error) {
	var s Scene
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		return s, fmt.Errorf("scene JSON: %w", err)
	}
	return s, s.Validate()
}

// JSON encodes the scene.
func (s Scene) JSON() string {
	b, _ := json.Marshal(s) // a Scene always marshals
	return string(b)
}

// Validate checks shapes, colours and boxes.
func (s Scene) Validate() error {
	if s.Size <= 0 || s.Size > 4096 {
		return fmt.Errorf("scene size %d: want 1..4096", s.Size)
	}
	for i, o := range s.Objects {
		if !isShape(o.Shape) {
			return fmt.Errorf("scene object %d: unknown shape %q, want one of %v", i, o.Shape, ShapeClasses)
		}
		if _, ok := PaletteRGB(o.Color); !ok {
			return fmt.Errorf("scene object %d: unknown colour %q, want one of %v", i, o.Color, paletteNames())
		}
		b := o.Box
		if b[0] < 0 || b[1] < 0 || b[2] > s.Size || b[3] > s.Size || b[2] <= b[0] || b[3] <= b[1] {
			return fmt.Errorf("scene object %d: box %v is empty or outside the %dx%d image", i, b, s.Size, s.Size)
		}
	}
	return nil
}

func isShape(s string) bool {
	for _, c := range ShapeClasses {
		if c == s {
			return true
		}
	}
	return false
}

func paletteNames() []string {
	out := make([]string, len(Palette))
	for i, c := range Palette {
		out[i] = c.Name
	}
	return out
}

// Covers reports whether the object paints pixel (x, y). The test is made at the pixel centre
// (x+0.5, y+0.5) against the box (x0, y0, x1, y1) of width w and height h:
//   - square: every pixel of the box;
//   - circle: the disc centred on the box centre with radius min(w, h)/2 (inclusive);
//   - triangle: the isosceles triangle with its apex at the middle of the top edge and its base along
//     the bottom edge: rows y0..y1-1, |px - cx| <= (py - y0) * w / (2h).
func (o Object) Covers(x, y int) bool {
	b := o.Box
	if x < b[0] || x >= b[2] || y < b[1] || y >= b[3] {
		return false
	}
	px, py := float64(x)+0.5, float64(y)+0.5
	w, h := float64(b[2]-b[0]), float64(b[3]-b[1])
	cx, cy := float64(b[0])+w/2, float64(b[1])+h/2
	switch o.Shape {
	case ShapeSquare:
		return true
	case ShapeCircle:
		r := min(w, h) / 2
		return (px-cx)*(px-cx)+(py-cy)*(py-cy) <= r*r
	case ShapeTriangle:
		dx := px - cx
		if dx < 0 {
			dx = -dx
		}
		return dx <= (py-float64(b[1]))*w/(2*h)
	}
	return false
}

// objectMask is an alpha mask of one object, used with draw.DrawMask.
type objectMask struct{ o Object }

func (m objectMask) ColorModel() color.Model { return color.AlphaModel }
func (m objectMask) Bounds() image.Rectangle { return m.o.Rect() }
func (m objectMask) At(x, y int) color.Color {
	if m.o.Covers(x, y) {
		return color.Alpha{A: 255}
	}
	return color.Alpha{}
}

// RenderScene draws a scene: a Background canvas of Size x Size pixels with each object painted, in
// order, in its palette colour where Object.Covers is true. Pixels are exactly a palette colour or the
// background (no anti-aliasing), so a detector can classify pixels by exact colour.
func RenderScene(s Scene) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, s.Size, s.Size))
	draw.Draw(img, img.Bounds(), image.NewUniform(Background), image.Point{}, draw.Src)
	for _, o := range s.Objects {
		rgb, _ := PaletteRGB(o.Color)
		draw.DrawMask(img, o.Rect(), image.NewUniform(rgb), image.Point{}, objectMask{o}, o.Rect().Min, draw.Over)
	}
	return img, nil
}

// ObjectGroup is a set of objects sharing a shape and colour: captions talk about groups, and
// eval/shapes scores detections by the same groups.
type ObjectGroup struct {
	Shape, Color string
	Count        int
	CX, CY       float64 // mean of the box centres
}

// GroupObjects groups n objects, the ith of the shape, colour and box centre at(i) gives, by
// shape and colour, in the order the groups first appear.
func GroupObjects(n int, at func(i int) (shape, color string, cx, cy float64)) []ObjectGroup {
	var groups []ObjectGroup
	for i := range n {
		shape, color, x, y := at(i)
		found := false
		for j := range groups {
			g := &groups[j]
			if g.Shape == shape && g.Color == color {
				g.CX = (g.CX*float64(g.Count) + x) / float64(g.Count+1)
				g.CY = (g.CY*float64(g.Count) + y) / float64(g.Count+1)
				g.Count++
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, ObjectGroup{Shape: shape, Color: color, Count: 1, CX: x, CY: y})
		}
	}
	return groups
}

// Groups are the scene's objects grouped by shape and colour (GroupObjects), as its caption
// names them.
func (s Scene) Groups() []ObjectGroup {
	return GroupObjects(len(s.Objects), func(i int) (string, string, float64, float64) {
		o := s.Objects[i]
		x, y := o.Center()
		return o.Shape, o.Color, x, y
	})
}

var countWords = []string{"no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

func (g ObjectGroup) phrase() string {
	if g.Count == 1 {
		return "a " + g.Color + " " + g.Shape
	}
	word := fmt.Sprint(g.Count)
	if g.Count < len(countWords) {
		word = countWords[g.Count]
	}
	return word + " " + g.Color + " " + g.Shape + "s"
}

// Caption describes a scene in the dataset's grammar. Objects of the same shape and colour form a
// group, named with a count ("a red circle", "two red circles", "three blue squares"). Then:
//   - one group: its phrase;
//   - two groups: "<A> left of <B>" when the horizontal distance between the groups' centres (the mean
//     of their box centres) is at least the vertical one, A being the left group; otherwise
//     "<A> above <B>", A being the upper group;
//   - three or more groups: the phrases listed from left to right by centre x (ties: by y), joined as
//     "<A>, <B> and <C>".
//
// An empty scene is captioned "".
func Caption(s Scene) string {
	groups := s.Groups()
	switch len(groups) {
	case 0:
		return ""
	case 1:
		return groups[0].phrase()
	case 2:
		a, b := groups[0], groups[1]
		dx, dy := b.CX-a.CX, b.CY-a.CY
		if abs(dx) >= abs(dy) {
			if dx < 0 {
				a, b = b, a
			}
			return a.phrase() + " left of " + b.phrase()
		}
		if dy < 0 {
			a, b = b, a
		}
		return a.phrase() + " above " + b.phrase()
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].CX != groups[j].CX {
			return groups[i].CX < groups[j].CX
		}
		return groups[i].CY < groups[j].CY
	})
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = g.phrase()
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// ObjectSizeRange is the range [lo, hi] of box sides SampleScene draws for an image size:
// lo = max(3, size/4) and hi = max(lo, 3*size/8).
func ObjectSizeRange(size int) (lo, hi int) {
	lo = max(3, size/4)
	hi = max(lo, 3*size/8)
	return lo, hi
}

// SampleScene returns scene number index of the dataset cfg describes; it depends only on
// (cfg.Seed, cfg.ImageSize, cfg.MinObjects, cfg.MaxObjects, cfg.RelationHalves, index).
//
// The number of objects n is uniform in [MinObjects, MaxObjects]; the objects are split into groups by
// a composition of n drawn uniformly (for n = 3: 3, 2+1, 1+2 or 1+1+1), each group gets a distinct
// (shape, colour) pair drawn uniformly, and every object a square box with a side uniform in
// ObjectSizeRange, placed uniformly where it keeps a gap of at least one pixel to the boxes already
// placed (if no place is found after many tries the side shrinks by one pixel, down to 2). Under
// RelationHalves a scene of two groups keeps them in opposite halves (see placeGroups and the
// field's comment).
func SampleScene(cfg ShapesConfig, index int) Scene {
	rng := newEpochRNG(uint64(cfg.Seed)^0x9b97d0c1a3e5f2d7, index)
	intn := func(n int) int { return int(rng.uintn(uint64(n))) }
	n := cfg.MinObjects + intn(cfg.MaxObjects-cfg.MinObjects+1)
	// A composition of n: each of the n-1 gaps between objects starts a new group with probability 1/2.
	var sizes []int
	cur := 1
	for i := 1; i < n; i++ {
		if intn(2) == 1 {
			sizes = append(sizes, cur)
			cur = 1
		} else {
			cur++
		}
	}
	sizes = append(sizes, cur)
	// Distinct (shape, colour) pairs, drawn group by group.
	pairs := len(ShapeClasses) * len(Palette)
	var used []int
	drawPair := func() int {
		for {
			p := intn(pairs)
			dup := false
			for _, u := range used {
				dup = dup || u == p
			}
			if !dup || len(used) >= pairs {
				used = append(used, p)
				return p
			}
		}
	}
	if !cfg.RelationHalves || len(sizes) != 2 {
		// Each group's pair is drawn just before its objects are placed.
		objs := placeGroups(cfg.ImageSize, sizes, func(int) int { return drawPair() }, nil, intn)
		return Scene{Size: cfg.ImageSize, Objects: objs}
	}
	// Two groups in opposite halves along a random axis; placements that leave the centres
	// further apart across the axis than along it are drawn again (up to 100 times).
	groupPairs := []int{drawPair(), drawPair()}
	axis := intn(2) // 0: left and right, 1: above and below
	half := cfg.ImageSize / 2
	region := func(g int) [4]int {
		r := [4]int{0, 0, cfg.ImageSize, cfg.ImageSize}
		if g == 0 {
			r[2+axis] = half
		} else {
			r[axis] = half
		}
		return r
	}
	var objs []Object
	for try := 0; try < 100; try++ {
		objs = placeGroups(cfg.ImageSize, sizes, func(g int) int { return groupPairs[g] }, region, intn)
		if relationAxisIs(Scene{Size: cfg.ImageSize, Objects: objs}, axis) {
			break
		}
	}
	return Scene{Size: cfg.ImageSize, Objects: objs}
}

// placeGroups places the objects of each group g (sizes[g] of them, of (shape, colour) pair
// number pairOf(g)) with sides uniform in ObjectSizeRange at uniform free positions inside
// region(g) (x0, y0, x1, y1; the whole image when region is nil).
func placeGroups(size int, sizes []int, pairOf func(g int) int, region func(g int) [4]int, intn func(int) int) []Object {
	var objs []Object
	lo, hi := ObjectSizeRange(size)
	for g, count := range sizes {
		p := pairOf(g)
		shape, col := ShapeClasses[p/len(Palette)], Palette[p%len(Palette)].Name
		r := [4]int{0, 0, size, size}
		if region != nil {
			r = region(g)
		}
		w, h := r[2]-r[0], r[3]-r[1]
		for k := 0; k < count; k++ {
			side := lo + intn(hi-lo+1)
			for {
				placed := false
				if side <= w && side <= h {
					for try := 0; try < 200 && !placed; try++ {
						x0, y0 := r[0]+intn(w-side+1), r[1]+intn(h-side+1)
						box := [4]int{x0, y0, x0 + side, y0 + side}
						if fits(box, objs) {
							objs = append(objs, Object{Shape: shape, Color: col, Box: box})
							placed = true
						}
					}
				}
				if placed || side <= 2 {
					break
				}
				side--
			}
		}
	}
	return objs
}

// relationAxisIs reports whether a two-group scene's group centres differ more along axis (0: x,
// 1: y) than across it, which is the axis its caption's relation names.
func relationAxisIs(s Scene, axis int) bool {
	g := s.Groups()
	if len(g) != 2 {
		return false
	}
	dx, dy := abs(g[1].CX-g[0].CX), abs(g[1].CY-g[0].CY)
	if axis == 0 {
		return dx >= dy
	}
	return dy > dx
}

// fits reports whether box keeps a gap of at least one pixel to every object.
func fits(box [4]int, objs []Object) bool {
	for _, o := range objs {
		b := o.Box
		if box[0] < b[2]+1 && b[0] < box[2]+1 && box[1] < b[3]+1 && b[1] < box[3]+1 {
			return false
		}
	}
	return true
}

// ShapesSample is one rendered sample of the shapes dataset.
type ShapesSample struct {
	Key    string
	Prompt string
	Scene  Scene
	Image  *image.RGBA
}

// ShapesKey is the key of sample index: "shapes-<seed>-<index, 8 digits>".
func ShapesKey(cfg ShapesConfig, index int) string {
	return fmt.Sprintf("shapes-%d-%08d", cfg.Seed, index)
}

// RenderShapes samples, captions and renders sample index of the dataset cfg describes.
func RenderShapes(cfg ShapesConfig, index int) (*ShapesSample, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if index < 0 {
		return nil, fmt.Errorf("shapes sample index %d: must be >= 0", index)
	}
	scene := SampleScene(cfg, index)
	img, err := RenderScene(scene)
	if err != nil {
		return nil, fmt.Errorf("shapes sample %d: %w", index, err)
	}
	return &ShapesSample{Key: ShapesKey(cfg, index), Prompt: Caption(scene), Scene: scene, Image: img}, nil
}
