package geneval

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// Box is a detection box in image pixels: (X1, Y1) top-left, (X2, Y2) bottom-right.
type Box struct{ X1, Y1, X2, Y2 float64 }

// Mask is a boolean instance mask, row-major.
type Mask struct {
	Width, Height int
	Bits          []bool
}

// Detection is one detected instance.
type Detection struct {
	Box   Box
	Score float64
	Mask  *Mask // nil when the detector gives none: colour crops then use the box alone
}

// Detections maps class names to instances.
type Detections map[string][]Detection

// Options are GenEval's evaluation options, the --options of evaluation/evaluate_images.py
// (reference notes §3.2).
type Options struct {
	Threshold         float64 // confidence threshold (strictly greater), 0.3 ("threshold")
	CountingThreshold float64 // the threshold for the counting task, 0.9 ("counting_threshold")
	MaxObjects        int     // detections kept per class, 16 ("max_objects")
	// MaxOverlap is the greedy per-class NMS threshold ("max_overlap", GenEval's NMS_THRESHOLD): a
	// detection whose IoU (see IoU: inclusive pixels) with an already kept detection of its class is
	// >= MaxOverlap is dropped. Exactly 1, the default, disables NMS (identical boxes are kept);
	// values above 1 keep everything too, and 0 keeps only the best detection of each class.
	MaxOverlap        float64
	PositionThreshold float64 // the relative-position margin, 0.1 ("position_threshold")
}

// DefaultOptions are GenEval's defaults.
func DefaultOptions() Options {
	return Options{Threshold: 0.3, CountingThreshold: 0.9, MaxObjects: 16, MaxOverlap: 1, PositionThreshold: 0.1}
}

// ThresholdFor is the confidence threshold for a task tag.
func (o Options) ThresholdFor(tag string) float64 {
	if tag == "counting" {
		return o.CountingThreshold
	}
	return o.Threshold
}

// IoU uses GenEval's inclusive-pixel areas (x2−x1+1)·(y2−y1+1); 0 when the union is empty.
func IoU(a, b Box) float64 {
	area := func(x1, y1, x2, y2 float64) float64 { return math.Max(x2-x1+1, 0) * math.Max(y2-y1+1, 0) }
	inter := area(math.Max(a.X1, b.X1), math.Max(a.Y1, b.Y1), math.Min(a.X2, b.X2), math.Min(a.Y2, b.Y2))
	union := area(a.X1, a.Y1, a.X2, a.Y2) + area(b.X1, b.Y1, b.X2, b.Y2) - inter
	if union == 0 {
		return 0
	}
	return inter / union
}

// Filter applies GenEval's per-class post-processing (evaluate_image in evaluate_images.py): sort by
// score (descending; ties keep numpy's order, later first), keep scores strictly above threshold,
// keep at most MaxObjects, then greedy NMS: the best remaining detection is kept and every remaining
// one whose IoU with it is >= MaxOverlap is dropped, until none remain; MaxOverlap == 1 skips the IoU
// test. NMS runs after the MaxObjects cut, so it can leave fewer than MaxObjects detections. Classes
// left empty are dropped.
func Filter(raw Detections, threshold float64, o Options) Detections {
	out := Detections{}
	for class, dets := range raw {
		idx := make([]int, len(dets))
		for i := range idx {
			idx[i] = i
		}
		// np.argsort (stable for these sizes) ascending, then reversed.
		sort.SliceStable(idx, func(a, b int) bool { return dets[idx[a]].Score < dets[idx[b]].Score })
		for l, r := 0, len(idx)-1; l < r; l, r = l+1, r-1 {
			idx[l], idx[r] = idx[r], idx[l]
		}
		var kept []int
		for _, i := range idx {
			if dets[i].Score > threshold {
				kept = append(kept, i)
			}
		}
		if o.MaxObjects > 0 && len(kept) > o.MaxObjects {
			kept = kept[:o.MaxObjects]
		}
		var final []Detection
		for len(kept) > 0 {
			best := kept[0]
			final = append(final, dets[best])
			rest := make([]int, 0, len(kept)-1)
			for _, i := range kept[1:] {
				// GenEval: NMS_THRESHOLD == 1 or compute_iou(kept, other) < NMS_THRESHOLD. IoU never
				// exceeds 1, so thresholds above 1 keep everything as well.
				if o.MaxOverlap >= 1 || IoU(dets[best].Box, dets[i].Box) < o.MaxOverlap {
					rest = append(rest, i)
				}
			}
			kept = rest
		}
		if len(final) > 0 {
			out[class] = final
		}
	}
	return out
}

// RelativePosition is the set of relations of box a with respect to box b (reference notes §3.4):
// the centre offset shrunk by threshold·(sum of sizes) per axis, divided by the original offset's
// norm, compared with ±0.5 (image y grows downwards).
func RelativePosition(a, b Box, threshold float64) []string {
	ca := [2]float64{(a.X1 + a.X2) / 2, (a.Y1 + a.Y2) / 2}
	cb := [2]float64{(b.X1 + b.X2) / 2, (b.Y1 + b.Y2) / 2}
	sa := [2]float64{math.Abs(a.X2 - a.X1), math.Abs(a.Y2 - a.Y1)}
	sb := [2]float64{math.Abs(b.X2 - b.X1), math.Abs(b.Y2 - b.Y1)}
	var off, rev [2]float64
	for i := 0; i < 2; i++ {
		off[i] = ca[i] - cb[i]
		sign := 0.0
		if off[i] > 0 {
			sign = 1
		} else if off[i] < 0 {
			sign = -1
		}
		rev[i] = math.Max(math.Abs(off[i])-threshold*(sa[i]+sb[i]), 0) * sign
	}
	if math.Abs(rev[0]) < 1e-3 && math.Abs(rev[1]) < 1e-3 {
		return nil
	}
	norm := math.Hypot(off[0], off[1])
	dx, dy := rev[0]/norm, rev[1]/norm
	var rel []string
	if dx < -0.5 {
		rel = append(rel, "left of")
	}
	if dx > 0.5 {
		rel = append(rel, "right of")
	}
	if dy < -0.5 {
		rel = append(rel, "above")
	}
	if dy > 0.5 {
		rel = append(rel, "below")
	}
	return rel
}

// ColorClassifier names the colour of each object of a class in an image.
type ColorClassifier interface {
	Colors(img *imaging.RGB8, class string, objs []Detection) ([]string, error)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// colorTally is the tail of GenEval's colour reason: "{n} {colour}" for each of ColorNames that the
// classifier returned, in ColorNames order, joined by ", ". Names outside ColorNames are not listed.
func colorTally(got []string) string {
	var parts []string
	for _, c := range ColorNames {
		if n := countOf(got, c); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	return strings.Join(parts, ", ")
}

// Evaluate applies GenEval's correctness rules (evaluate in evaluation/evaluate_images.py of
// djghosh13/geneval; reference notes §3.3) to filtered detections, and returns GenEval's reason
// string: one line per failed check, joined by "\n", empty when the image is correct.
//
// Include clauses are checked in order. For each, found is the first Count detections of its class:
//   - fewer than Count: "expected {class}>={count}, found {n}";
//   - else, with a colour: the colours of found are classified and, when fewer than Count are the
//     asked colour, "expected {color} {class}>={count}, found {k} {color}; and {tally}", where tally
//     lists "{n} {colour}" for every colour returned, in ColorNames order, joined by ", ";
//   - then, when the clause still holds and has a position: "no target for {class} to be {relation}"
//     when the referenced clause failed; else every found object is checked against every object
//     of the referenced clause, and the first pair without the relation gives
//     "expected {class} {relation} target, found {relations} target" ({relations} is the pair's
//     relations joined by " and ", empty when there are none) and ends the clause's check.
//
// Then each exclude clause with at least Count detections gives "expected {class}<{count}, found {n}".
//
// One difference cannot be removed: GenEval builds the relations as a Python set, whose order varies
// between Python processes (string hashing is randomised), so when a pair has two relations the
// official reason lists them in either order. Here they are always in RelativePosition's order
// (horizontal first, then vertical).
//
// img and colors are only used for colour clauses; a colour clause without them is an error, as is a
// position referring to a clause that is not an earlier one (which ParseMetadata rejects).
func Evaluate(md Metadata, detected Detections, img *imaging.RGB8, colors ColorClassifier, o Options) (bool, string, error) {
	correct := true
	var reasons []string
	matched := make([][]Detection, 0, len(md.Include))
	for i, req := range md.Include {
		found := detected[req.Class]
		if len(found) > req.Count {
			found = found[:req.Count]
		}
		ok := true
		if len(found) < req.Count {
			ok = false
			reasons = append(reasons, fmt.Sprintf("expected %s>=%d, found %d", req.Class, req.Count, len(found)))
		} else {
			if req.Color != "" {
				if colors == nil || img == nil {
					return false, "", fmt.Errorf("include clause %d (%s %s): a colour clause needs an image and a colour classifier", i, req.Color, req.Class)
				}
				got, err := colors.Colors(img, req.Class, found)
				if err != nil {
					return false, "", fmt.Errorf("include clause %d: colour of %s: %w", i, req.Class, err)
				}
				if n := countOf(got, req.Color); n < req.Count {
					ok = false
					reasons = append(reasons, fmt.Sprintf("expected %s %s>=%d, found %d %s; and %s",
						req.Color, req.Class, req.Count, n, req.Color, colorTally(got)))
				}
			}
			if ok && req.Position != nil {
				g := req.Position.Group
				if g < 0 || g >= len(matched) {
					return false, "", fmt.Errorf("include clause %d (%s): position refers to group %d, which is not an earlier clause", i, req.Class, g)
				}
				target := matched[g]
				if target == nil {
					ok = false
					reasons = append(reasons, fmt.Sprintf("no target for %s to be %s", req.Class, req.Position.Relation))
				} else {
				check:
					for _, a := range found {
						for _, b := range target {
							rel := RelativePosition(a.Box, b.Box, o.PositionThreshold)
							if !contains(rel, req.Position.Relation) {
								ok = false
								reasons = append(reasons, fmt.Sprintf("expected %s %s target, found %s target",
									req.Class, req.Position.Relation, strings.Join(rel, " and ")))
								break check
							}
						}
					}
				}
			}
		}
		if ok {
			matched = append(matched, found)
		} else {
			correct = false
			matched = append(matched, nil)
		}
	}
	for _, ex := range md.Exclude {
		if n := len(detected[ex.Class]); n >= ex.Count {
			correct = false
			reasons = append(reasons, fmt.Sprintf("expected %s<%d, found %d", ex.Class, ex.Count, n))
		}
	}
	return correct, strings.Join(reasons, "\n"), nil
}
