package shapes

import (
	"github.com/sprint-distill/sprint/data"
)

// PlacementIoU is the box overlap at which a detection counts as an object drawn where the
// scene (a control map) puts it.
const PlacementIoU = 0.5

// Placement says how many of a scene's objects an image draws where the scene puts them, the
// question a position/outline control map asks: an object is placed when a detection, of any
// shape and colour, overlaps its box with intersection over union >= PlacementIoU; each
// detection serves one object (objects in scene order take their best free detection).
// Shaped counts the placed objects whose detection also has the object's shape.
type Placement struct {
	Objects, Placed, Shaped int
}

// Place scores detections against the scene.
func Place(want data.Scene, got []Detection) Placement {
	used := make([]bool, len(got))
	p := Placement{Objects: len(want.Objects)}
	for _, o := range want.Objects {
		best, bestIoU := -1, PlacementIoU
		for i, d := range got {
			if used[i] {
				continue
			}
			if iou := boxIoU(o.Box, d.Box); iou >= bestIoU {
				best, bestIoU = i, iou
			}
		}
		if best < 0 {
			continue
		}
		used[best] = true
		p.Placed++
		if got[best].Shape == o.Shape {
			p.Shaped++
		}
	}
	return p
}

// boxIoU is the intersection over union of two half-open boxes [x0, y0, x1, y1).
func boxIoU(a, b [4]int) float64 {
	ix := min(a[2], b[2]) - max(a[0], b[0])
	iy := min(a[3], b[3]) - max(a[1], b[1])
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	return float64(inter) / float64(union)
}

// PlacementAccuracy sums placements over images.
type PlacementAccuracy struct {
	// Objects is the number of scene objects over all images.
	Objects int
	// Placed is the fraction of objects drawn where the control puts them; Shaped the fraction
	// drawn there with their shape; AllPlaced the fraction of images with every object placed.
	Placed, Shaped, AllPlaced float64
}

// AggregatePlacement sums per-image placements.
func AggregatePlacement(ps []Placement) PlacementAccuracy {
	var a PlacementAccuracy
	var placed, shaped, all int
	for _, p := range ps {
		a.Objects += p.Objects
		placed += p.Placed
		shaped += p.Shaped
		if p.Placed == p.Objects {
			all++
		}
	}
	if a.Objects > 0 {
		a.Placed = float64(placed) / float64(a.Objects)
		a.Shaped = float64(shaped) / float64(a.Objects)
	}
	if len(ps) > 0 {
		a.AllPlaced = float64(all) / float64(len(ps))
	}
	return a
}
