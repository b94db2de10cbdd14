package geneval

import (
	"math"
	"testing"
)

// GenEval's NMS (evaluate_image in evaluation/evaluate_images.py): after thresholding and the
// max_objects cut, the best remaining detection is kept and the others stay only when
// NMS_THRESHOLD == 1 or compute_iou(kept, other) < NMS_THRESHOLD.
func TestNMSOnHandBoxes(t *testing.T) {
	// Inclusive-pixel areas, all 10x10 = 100:
	//   A [0,0,9,9]   B [1,0,10,9]   C [5,0,14,9]
	//   IoU(A,B) = 90/110 = 0.818..., IoU(A,C) = 50/150 = 1/3, IoU(B,C) = 60/140 = 0.428...
	a := box(0, 0, 9, 9, 0.9)
	b := box(1, 0, 10, 9, 0.8)
	c := box(5, 0, 14, 9, 0.7)
	if got := IoU(a.Box, b.Box); math.Abs(got-90.0/110) > 1e-15 {
		t.Fatalf("IoU(A,B) = %v", got)
	}
	if got := IoU(b.Box, c.Box); math.Abs(got-60.0/140) > 1e-15 {
		t.Fatalf("IoU(B,C) = %v", got)
	}
	scores := func(ds []Detection) []float64 {
		var out []float64
		for _, d := range ds {
			out = append(out, d.Score)
		}
		return out
	}
	cases := []struct {
		name       string
		maxOverlap float64
		maxObjects int
		in         []Detection
		want       []float64
	}{
		{"default 1 disables NMS", 1, 16, []Detection{a, b, c}, []float64{0.9, 0.8, 0.7}},
		{"above 1 keeps everything too", 1.5, 16, []Detection{a, b, c}, []float64{0.9, 0.8, 0.7}},
		{"0.5 drops B (0.82) and keeps C (1/3)", 0.5, 16, []Detection{c, a, b}, []float64{0.9, 0.7}},
		// B would suppress C (0.43 >= 0.4), but B was itself dropped by A: only kept boxes suppress.
		{"greedy: a dropped box suppresses nothing", 0.4, 16, []Detection{a, b, c}, []float64{0.9, 0.7}},
		{"0.3 drops both", 0.3, 16, []Detection{a, b, c}, []float64{0.9}},
		// The comparison is "keep when IoU < threshold": an IoU equal to the threshold is dropped.
		{"IoU equal to the threshold is dropped", 1.0 / 3, 16, []Detection{a, c}, []float64{0.9}},
		{"just above the IoU keeps", 1.0/3 + 1e-9, 16, []Detection{a, c}, []float64{0.9, 0.7}},
		{"0 keeps only the best, even disjoint boxes", 0, 16,
			[]Detection{a, box(100, 100, 109, 109, 0.6)}, []float64{0.9}},
		{"identical boxes survive with 1", 1, 16, []Detection{a, box(0, 0, 9, 9, 0.5)}, []float64{0.9, 0.5}},
		{"identical boxes: 0.999 drops the copy", 0.999, 16, []Detection{a, box(0, 0, 9, 9, 0.5)}, []float64{0.9}},
		// max_objects cuts before NMS: with 2 objects, C (which A would keep) is already gone.
		{"max_objects applies before NMS", 0.5, 2, []Detection{a, b, c}, []float64{0.9}},
		// The confidence threshold applies before NMS: a dropped low-score box suppresses nothing.
		{"below-threshold boxes take no part", 0.5, 16, []Detection{box(0, 0, 9, 9, 0.2), b}, []float64{0.8}},
	}
	for _, tc := range cases {
		o := DefaultOptions()
		o.MaxOverlap, o.MaxObjects = tc.maxOverlap, tc.maxObjects
		got := scores(Filter(Detections{"cup": tc.in}, 0.3, o)["cup"])
		if len(got) != len(tc.want) {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}

	// NMS is per class: the same box under two classes stays in both.
	o := DefaultOptions()
	o.MaxOverlap = 0.5
	got := Filter(Detections{"cat": {a}, "dog": {box(0, 0, 9, 9, 0.8)}}, 0.3, o)
	if len(got["cat"]) != 1 || len(got["dog"]) != 1 {
		t.Fatalf("NMS crossed classes: %v", got)
	}
	if DefaultOptions().MaxOverlap != 1 {
		t.Fatalf("default MaxOverlap %v, want GenEval's 1.0", DefaultOptions().MaxOverlap)
	}
}
