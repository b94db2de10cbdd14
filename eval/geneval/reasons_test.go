package geneval

import (
	"testing"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// The expected reasons below are written from the f-strings of evaluate() in
// djghosh13/geneval evaluation/evaluate_images.py (commit af4902f2):
//
//	counting:  f"expected {classname}>={req['count']}, found {len(found_objects)}"
//	colour:    f"expected {req['color']} {classname}>={req['count']}, found " +
//	           f"{colors.count(req['color'])} {req['color']}; and " +
//	           ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
//	no target: f"no target for {classname} to be {expected_rel}"
//	position:  f"expected {classname} {expected_rel} target, found " + f"{' and '.join(true_rels)} target"
//	exclusion: f"expected {classname}<{req['count']}, found {len(objects[classname])}"
//
// and the reasons are joined with "\n".

func box(x1, y1, x2, y2, score float64) Detection {
	return Detection{Box: Box{x1, y1, x2, y2}, Score: score}
}

func TestReasons(t *testing.T) {
	bear := box(0, 0, 10, 10, 0.9)
	rightOfBear := box(20, 0, 30, 10, 0.9)   // {right of}
	leftOfBear := box(-30, 0, -20, 10, 0.85) // {left of}
	onBear := box(1, 0, 11, 10, 0.8)         // no relation: the offset is within the margin
	upLeft := box(-30, -30, -20, -20, 0.8)   // {left of, above}
	dogRightOfBear := func(dogs int) Metadata {
		return Metadata{Tag: "position", Include: []Clause{{Class: "teddy bear", Count: 1},
			{Class: "dog", Count: dogs, Position: &Position{"right of", 0}}}}
	}
	cases := []struct {
		name    string
		md      Metadata
		raw     Detections
		colors  stubColors
		correct bool
		reason  string
	}{
		{name: "correct image: empty reason",
			md:  Metadata{Tag: "single_object", Include: []Clause{{Class: "bench", Count: 1}}},
			raw: Detections{"bench": {box(0, 0, 5, 5, 0.5)}}, correct: true, reason: ""},
		{name: "counting: class absent",
			md:  Metadata{Tag: "single_object", Include: []Clause{{Class: "bench", Count: 1}}},
			raw: Detections{"bench": {box(0, 0, 5, 5, 0.3)}}, reason: "expected bench>=1, found 0"},
		{name: "counting: too few above the counting threshold",
			md:     counting(3),
			raw:    Detections{"clock": dets(0.95, 0.91, 0.9, 0.5)},
			reason: "expected clock>=3, found 2"},
		{name: "exclusion: one too many",
			md:     counting(2),
			raw:    Detections{"clock": dets(0.95, 0.93, 0.92, 0.91)},
			reason: "expected clock<3, found 4"},
		{name: "exclusion counts every kept detection, not only the first Count",
			md: Metadata{Tag: "two_object", Include: []Clause{{Class: "bench", Count: 1}},
				Exclude: []Clause{{Class: "dog", Count: 2}}},
			raw:    Detections{"bench": dets(0.9), "dog": dets(0.4, 0.5, 0.6)},
			reason: "expected dog<2, found 3"},
		{name: "colour: wrong colour",
			md:     Metadata{Tag: "colors", Include: []Clause{{Class: "car", Count: 1, Color: "red"}}},
			raw:    Detections{"car": dets(0.9)},
			colors: stubColors{"car": {"blue"}},
			reason: "expected red car>=1, found 0 red; and 1 blue"},
		{name: "colour: tally in GenEval's colour order, not the detections' order",
			md:     Metadata{Tag: "colors", Include: []Clause{{Class: "car", Count: 3, Color: "red"}}},
			raw:    Detections{"car": dets(0.9, 0.8, 0.7)},
			colors: stubColors{"car": {"white", "red", "black"}},
			reason: "expected red car>=3, found 1 red; and 1 red, 1 black, 1 white"},
		{name: "colour: repeated colours are counted",
			md:     Metadata{Tag: "colors", Include: []Clause{{Class: "car", Count: 3, Color: "green"}}},
			raw:    Detections{"car": dets(0.9, 0.8, 0.7)},
			colors: stubColors{"car": {"white", "orange", "white"}},
			reason: "expected green car>=3, found 0 green; and 1 orange, 2 white"},
		{name: "colour: too few objects is a counting failure, no colour is asked",
			md:     Metadata{Tag: "colors", Include: []Clause{{Class: "car", Count: 1, Color: "red"}}},
			raw:    Detections{},
			reason: "expected car>=1, found 0"},
		{name: "color_attr: both clauses fail, in clause order",
			md: Metadata{Tag: "color_attr", Include: []Clause{{Class: "wine glass", Count: 1, Color: "purple"},
				{Class: "apple", Count: 1, Color: "black"}}},
			raw:    Detections{"wine glass": dets(0.9), "apple": dets(0.8)},
			colors: stubColors{"wine glass": {"pink"}, "apple": {"red"}},
			reason: "expected purple wine glass>=1, found 0 purple; and 1 pink\nexpected black apple>=1, found 0 black; and 1 red"},
		{name: "position: holds",
			md:  dogRightOfBear(1),
			raw: Detections{"teddy bear": {bear}, "dog": {rightOfBear}}, correct: true},
		{name: "position: target clause failed",
			md:     dogRightOfBear(1),
			raw:    Detections{"dog": {rightOfBear}},
			reason: "expected teddy bear>=1, found 0\nno target for dog to be right of"},
		{name: "position: one wrong relation",
			md:     dogRightOfBear(1),
			raw:    Detections{"teddy bear": {bear}, "dog": {leftOfBear}},
			reason: "expected dog right of target, found left of target"},
		{name: "position: no relation at all leaves an empty list between the spaces",
			md:     dogRightOfBear(1),
			raw:    Detections{"teddy bear": {bear}, "dog": {onBear}},
			reason: "expected dog right of target, found  target"},
		{name: "position: two relations, horizontal first",
			md:     dogRightOfBear(1),
			raw:    Detections{"teddy bear": {bear}, "dog": {upLeft}},
			reason: "expected dog right of target, found left of and above target"},
		{name: "position: several failing objects report only the first",
			md:     dogRightOfBear(2),
			raw:    Detections{"teddy bear": {bear}, "dog": {leftOfBear, upLeft}},
			reason: "expected dog right of target, found left of target"},
		{name: "position: the first failing pair in order (dog 2 after a good dog 1)",
			md:     dogRightOfBear(2),
			raw:    Detections{"teddy bear": {bear}, "dog": {rightOfBear, upLeft}},
			reason: "expected dog right of target, found left of and above target"},
		{name: "position: every target of the group is checked",
			md: Metadata{Tag: "position", Include: []Clause{{Class: "teddy bear", Count: 2},
				{Class: "dog", Count: 1, Position: &Position{"right of", 0}}}},
			// The dog is right of the first bear but left of the second.
			raw:    Detections{"teddy bear": {bear, box(40, 0, 50, 10, 0.8)}, "dog": {rightOfBear}},
			reason: "expected dog right of target, found left of target"},
		{name: "position is not checked after a failed colour",
			md: Metadata{Tag: "color_attr", Include: []Clause{{Class: "teddy bear", Count: 1},
				{Class: "dog", Count: 1, Color: "brown", Position: &Position{"right of", 0}}}},
			raw:    Detections{"teddy bear": {bear}, "dog": {leftOfBear}},
			colors: stubColors{"dog": {"black"}},
			reason: "expected brown dog>=1, found 0 brown; and 1 black"},
		{name: "includes, then excludes, joined by newlines",
			md: Metadata{Tag: "counting", Include: []Clause{{Class: "clock", Count: 2}, {Class: "bench", Count: 1}},
				Exclude: []Clause{{Class: "cup", Count: 1}, {Class: "clock", Count: 1}}},
			raw:    Detections{"clock": dets(0.95), "cup": dets(0.99, 0.98)},
			reason: "expected clock>=2, found 1\nexpected bench>=1, found 0\nexpected cup<1, found 2\nexpected clock<1, found 1"},
	}
	o := DefaultOptions()
	img := imaging.NewRGB8(8, 8)
	for _, c := range cases {
		var colors ColorClassifier
		if c.colors != nil {
			colors = c.colors
		}
		ok, reason, err := Evaluate(c.md, Filter(c.raw, o.ThresholdFor(c.md.Tag), o), img, colors, o)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if ok != c.correct || reason != c.reason {
			t.Errorf("%s:\n got correct=%v reason %q\nwant correct=%v reason %q", c.name, ok, reason, c.correct, c.reason)
		}
	}
}

func TestEvaluateRejectsBadGroup(t *testing.T) {
	// ParseMetadata refuses this; Evaluate must not index out of range when given it directly.
	md := Metadata{Tag: "position", Include: []Clause{{Class: "dog", Count: 1, Position: &Position{"above", 3}}}}
	o := DefaultOptions()
	if _, _, err := Evaluate(md, Detections{"dog": dets(0.9)}, nil, nil, o); err == nil {
		t.Fatal("a position referring to a later clause must be an error")
	}
}
