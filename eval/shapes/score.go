package shapes

import (
	"math"
	"sort"

	"github.com/sprint-distill/sprint/data"
)

// Result is the compositional score of one image against the scene its prompt described, the way
// GenEval scores a generated image against its prompt's metadata. Each field is true when the
// criterion holds; Position is meaningful only when HasPosition.
type Result struct {
	Object      bool // every named shape is present (any colour)
	Color       bool // every named shape is present in its colour
	Count       bool // every (shape, colour) group has exactly its count
	Position    bool // the caption's spatial relation holds between the detected groups
	HasPosition bool // the caption states a relation (two or more groups)
	Exact       bool // all of the above and nothing extra: the detections are the scene
}

// Score compares detections with the scene the prompt was made from.
//
// Relations follow data.Caption: with two groups, the caption's axis is the one along which the
// scene's group centres differ most, and the detected centres must be ordered the same way along
// it; with three or more, the detected groups must have the scene's left-to-right order.
func Score(want data.Scene, got []Detection) Result {
	wg := want.Groups()
	dg := data.GroupObjects(len(got), func(i int) (string, string, float64, float64) {
		x, y := got[i].Center()
		return got[i].Shape, got[i].Color, x, y
	})
	find := func(shape, color string) *data.ObjectGroup {
		for i := range dg {
			if dg[i].Shape == shape && (color == "" || dg[i].Color == color) {
				return &dg[i]
			}
		}
		return nil
	}
	r := Result{Object: true, Color: true, Count: true}
	for _, g := range wg {
		if find(g.Shape, "") == nil {
			r.Object = false
		}
		d := find(g.Shape, g.Color)
		if d == nil {
			r.Color, r.Count = false, false
			continue
		}
		if d.Count != g.Count {
			r.Count = false
		}
	}
	r.HasPosition = len(wg) >= 2
	if r.HasPosition {
		r.Position = r.Color && relationHolds(wg, func(g data.ObjectGroup) *data.ObjectGroup { return find(g.Shape, g.Color) })
	}
	r.Exact = r.Color && r.Count && len(dg) == len(wg) && (!r.HasPosition || r.Position)
	return r
}

func relationHolds(wg []data.ObjectGroup, match func(data.ObjectGroup) *data.ObjectGroup) bool {
	if len(wg) == 2 {
		a, b := wg[0], wg[1]
		da, db := match(a), match(b)
		if math.Abs(b.CX-a.CX) >= math.Abs(b.CY-a.CY) {
			return (b.CX-a.CX)*(db.CX-da.CX) > 0
		}
		return (b.CY-a.CY)*(db.CY-da.CY) > 0
	}
	order := make([]int, len(wg))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return wg[order[i]].CX < wg[order[j]].CX })
	for k := 1; k < len(order); k++ {
		if match(wg[order[k-1]]).CX >= match(wg[order[k]]).CX {
			return false
		}
	}
	return true
}

// Accuracy is the mean of each criterion over a set of images; Position is averaged over the
// images whose caption states a relation.
type Accuracy struct {
	Object, Color, Count, Position, Exact float64
	Images, PositionImages                int
}

// Aggregate averages per-image results.
func Aggregate(rs []Result) Accuracy {
	var a Accuracy
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, r := range rs {
		a.Object += b(r.Object)
		a.Color += b(r.Color)
		a.Count += b(r.Count)
		a.Exact += b(r.Exact)
		if r.HasPosition {
			a.Position += b(r.Position)
			a.PositionImages++
		}
	}
	a.Images = len(rs)
	if n := float64(a.Images); n > 0 {
		a.Object, a.Color, a.Count, a.Exact = a.Object/n, a.Color/n, a.Count/n, a.Exact/n
	}
	if a.PositionImages > 0 {
		a.Position /= float64(a.PositionImages)
	}
	return a
}
