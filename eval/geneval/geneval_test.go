package geneval

import (
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/eval/imaging"
)

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

func TestRelativePosition(t *testing.T) {
	cases := []struct {
		a, b Box
		want []string
	}{
		// Reference notes §3.4.
		{Box{0, 0, 10, 10}, Box{20, 0, 30, 10}, []string{"left of"}},
		{Box{0, 0, 10, 10}, Box{20, 20, 30, 30}, []string{"left of", "above"}},
		{Box{0, 0, 10, 10}, Box{1, 0, 11, 10}, nil},
		{Box{0, 0, 10, 10}, Box{12, 3, 22, 13}, []string{"left of"}},
		// Mirror images and the vertical axis.
		{Box{20, 0, 30, 10}, Box{0, 0, 10, 10}, []string{"right of"}},
		{Box{0, 30, 10, 40}, Box{0, 0, 10, 10}, []string{"below"}},
		{Box{0, 0, 10, 10}, Box{0, 30, 10, 40}, []string{"above"}},
		// Diagonal at 45° but mostly horizontal after the margin: dx = -0.6, dy ~ -0.28.
		{Box{0, 0, 10, 10}, Box{30, 10, 40, 20}, []string{"left of"}},
		// Same centre.
		{Box{0, 0, 10, 10}, Box{2, 2, 8, 8}, nil},
		// Overlapping boxes whose centres differ by less than the margin.
		{Box{0, 0, 100, 100}, Box{15, 0, 115, 100}, nil},
	}
	for _, c := range cases {
		if got := RelativePosition(c.a, c.b, 0.1); !sameSet(got, c.want) {
			t.Errorf("RelativePosition(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	// A zero margin makes touching boxes "left of".
	if got := RelativePosition(Box{0, 0, 10, 10}, Box{1, 0, 11, 10}, 0); !sameSet(got, []string{"left of"}) {
		t.Errorf("zero threshold: %v", got)
	}
}

func TestIoU(t *testing.T) {
	// Inclusive pixels: [0,0,9,9] has area 100; [5,0,14,9] overlaps 5x10 = 50; union 150.
	if got := IoU(Box{0, 0, 9, 9}, Box{5, 0, 14, 9}); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("IoU = %v", got)
	}
	if got := IoU(Box{0, 0, 9, 9}, Box{20, 20, 29, 29}); got != 0 {
		t.Errorf("disjoint IoU = %v", got)
	}
	if got := IoU(Box{0, 0, 9, 9}, Box{0, 0, 9, 9}); got != 1 {
		t.Errorf("self IoU = %v", got)
	}
	if got := IoU(Box{5, 5, 3, 3}, Box{5, 5, 3, 3}); got != 0 {
		t.Errorf("empty boxes IoU = %v", got)
	}
}

func dets(scores ...float64) []Detection {
	out := make([]Detection, len(scores))
	for i, s := range scores {
		out[i] = Detection{Box: Box{float64(10 * i), 0, float64(10*i + 8), 8}, Score: s}
	}
	return out
}

func counting(n int) Metadata {
	return Metadata{Tag: "counting", Prompt: "a photo of clocks", Include: []Clause{{Class: "clock", Count: n}}, Exclude: []Clause{{Class: "clock", Count: n + 1}}}
}

func evalWith(t *testing.T, md Metadata, raw Detections, colors ColorClassifier) bool {
	t.Helper()
	o := DefaultOptions()
	img := imaging.NewRGB8(64, 64)
	ok, _, err := Evaluate(md, Filter(raw, o.ThresholdFor(md.Tag), o), img, colors, o)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestCounting(t *testing.T) {
	md := counting(2)
	if !evalWith(t, md, Detections{"clock": dets(0.95, 0.92, 0.85)}, nil) {
		t.Error("[0.95 0.92 0.85]: two above 0.9 should be correct")
	}
	if evalWith(t, md, Detections{"clock": dets(0.95, 0.93, 0.91)}, nil) {
		t.Error("[0.95 0.93 0.91]: three above 0.9 should be incorrect")
	}
	if evalWith(t, md, Detections{"clock": dets(0.95, 0.9)}, nil) {
		t.Error("a score of exactly 0.9 must be dropped (strict >)")
	}
	// The general threshold does not apply to counting; it does to the other tasks.
	single := Metadata{Tag: "single_object", Include: []Clause{{Class: "clock", Count: 1}}}
	if !evalWith(t, single, Detections{"clock": dets(0.31)}, nil) || evalWith(t, single, Detections{"clock": dets(0.3)}, nil) {
		t.Error("single_object threshold 0.3 is strict")
	}
	if evalWith(t, single, Detections{"dog": dets(0.99)}, nil) {
		t.Error("another class does not count")
	}
}

func TestFilter(t *testing.T) {
	o := DefaultOptions()
	var many []float64
	for i := 0; i < 20; i++ {
		many = append(many, 0.5+float64(i)/100)
	}
	got := Filter(Detections{"cup": dets(many...), "bench": dets(0.1)}, 0.3, o)
	if len(got["cup"]) != 16 || got["cup"][0].Score != 0.69 || got["cup"][15].Score != 0.54 {
		t.Fatalf("max objects / order: %d kept, first %v last %v", len(got["cup"]), got["cup"][0].Score, got["cup"][15].Score)
	}
	if _, ok := got["bench"]; ok {
		t.Fatal("a class with nothing left must be absent")
	}
	// Ties: numpy's ascending stable argsort reversed puts the later detection first.
	tie := Filter(Detections{"cup": dets(0.5, 0.5)}, 0.3, o)
	if tie["cup"][0].Box.X1 != 10 {
		t.Fatalf("tie order: %v", tie["cup"])
	}
	// NMS when enabled: the second box overlaps the first (IoU 0.8) and is dropped at 0.5.
	o.MaxOverlap = 0.5
	boxes := []Detection{{Box: Box{0, 0, 9, 9}, Score: 0.9}, {Box: Box{1, 0, 10, 9}, Score: 0.8}, {Box: Box{50, 50, 59, 59}, Score: 0.7}}
	nms := Filter(Detections{"cup": boxes}, 0.3, o)
	if len(nms["cup"]) != 2 || nms["cup"][1].Score != 0.7 {
		t.Fatalf("NMS kept %v", nms["cup"])
	}
	o.MaxOverlap = 1
	if len(Filter(Detections{"cup": boxes}, 0.3, o)["cup"]) != 3 {
		t.Fatal("MaxOverlap 1 must disable NMS")
	}
}

func TestPositionRule(t *testing.T) {
	md := Metadata{Tag: "position", Prompt: "a photo of a dog right of a teddy bear",
		Include: []Clause{{Class: "teddy bear", Count: 1}, {Class: "dog", Count: 1, Position: &Position{"right of", 0}}}}
	dog := Detection{Box: Box{20, 0, 30, 10}, Score: 0.9}
	bear := Detection{Box: Box{0, 0, 10, 10}, Score: 0.9}
	if !evalWith(t, md, Detections{"dog": {dog}, "teddy bear": {bear}}, nil) {
		t.Error("dog right of bear should be correct")
	}
	dog.Box, bear.Box = bear.Box, dog.Box
	if evalWith(t, md, Detections{"dog": {dog}, "teddy bear": {bear}}, nil) {
		t.Error("swapped boxes should be incorrect")
	}
	// Only the top-1 dog is checked against the top-1 bear: a lower-scored dog on the wrong side is ignored.
	good := Detection{Box: Box{20, 0, 30, 10}, Score: 0.9}
	wrong := Detection{Box: Box{-30, 0, -20, 10}, Score: 0.8}
	if !evalWith(t, md, Detections{"dog": {wrong, good}, "teddy bear": {{Box: Box{0, 0, 10, 10}, Score: 0.9}}}, nil) {
		t.Error("only the first Count detections take part")
	}
	// No target: the referenced group failed.
	o := DefaultOptions()
	ok, reason, err := Evaluate(md, Filter(Detections{"dog": {good}}, 0.3, o), nil, nil, o)
	if err != nil || ok || !strings.Contains(reason, "no target") {
		t.Errorf("missing target: ok=%v reason=%q err=%v", ok, reason, err)
	}
}

// stubColors returns fixed colours per class, in detection order.
type stubColors map[string][]string

func (s stubColors) Colors(_ *imaging.RGB8, class string, objs []Detection) ([]string, error) {
	out := s[class]
	if len(out) < len(objs) {
		return nil, os.ErrInvalid
	}
	return out[:len(objs)], nil
}

func TestColorRules(t *testing.T) {
	md := Metadata{Tag: "colors", Prompt: "a photo of a blue fire hydrant", Include: []Clause{{Class: "fire hydrant", Count: 1, Color: "blue"}}}
	raw := Detections{"fire hydrant": dets(0.9, 0.8)}
	if !evalWith(t, md, raw, stubColors{"fire hydrant": {"blue", "red"}}) {
		t.Error("top-1 blue should be correct")
	}
	if evalWith(t, md, raw, stubColors{"fire hydrant": {"red", "blue"}}) {
		t.Error("the second detection's colour must be ignored with count 1")
	}
	attr := Metadata{Tag: "color_attr", Include: []Clause{{Class: "wine glass", Count: 1, Color: "purple"}, {Class: "apple", Count: 1, Color: "black"}}}
	both := Detections{"wine glass": dets(0.9), "apple": dets(0.8)}
	if !evalWith(t, attr, both, stubColors{"wine glass": {"purple"}, "apple": {"black"}}) {
		t.Error("color_attr with both colours right")
	}
	if evalWith(t, attr, both, stubColors{"wine glass": {"purple"}, "apple": {"red"}}) {
		t.Error("color_attr with one colour wrong")
	}
	o := DefaultOptions()
	if _, _, err := Evaluate(md, Filter(raw, 0.3, o), nil, nil, o); err == nil {
		t.Error("a colour clause without a classifier must be an error")
	}
	// Exclusion: two_object-like prompt plus an excluded class.
	ex := Metadata{Tag: "two_object", Include: []Clause{{Class: "bench", Count: 1}}, Exclude: []Clause{{Class: "dog", Count: 1}}}
	if evalWith(t, ex, Detections{"bench": dets(0.9), "dog": dets(0.5)}, nil) {
		t.Error("an excluded class present must fail")
	}
	if !evalWith(t, ex, Detections{"bench": dets(0.9), "dog": dets(0.2)}, nil) {
		t.Error("an excluded class below the threshold does not count")
	}
}

func TestSummary(t *testing.T) {
	// Task accuracies {1, 0.5, 0, 1, 0.25, 0.75}: the overall score is their unweighted mean.
	var rs []Result
	add := func(tag string, correct, total int) {
		for i := 0; i < total; i++ {
			rs = append(rs, Result{Tag: tag, Correct: i < correct, Metadata: tag + string(rune('a'+i/4))})
		}
	}
	add("single_object", 4, 4)
	add("two_object", 4, 8)
	add("counting", 0, 4)
	add("colors", 12, 12)
	add("position", 1, 4)
	add("color_attr", 3, 4)
	s := Summarize(rs)
	if math.Abs(s.Overall-0.5833333333333333) > 1e-12 {
		t.Fatalf("overall %v", s.Overall)
	}
	if s.Tasks[1].Tag != "two_object" || s.Tasks[1].Accuracy != 0.5 || s.Images != 36 {
		t.Fatalf("%+v", s)
	}
	if math.Abs(s.ImageAccuracy-24.0/36) > 1e-12 {
		t.Fatalf("image accuracy %v", s.ImageAccuracy)
	}
	// Prompts (4 images each): single 1, two 2 (both with a correct image: 4 correct are the first
	// 4 = prompt a), counting 1, colors 3, position 1, color_attr 1 -> 9 prompts.
	if s.Prompts != 9 || math.Abs(s.PromptAccuracy-7.0/9) > 1e-12 {
		t.Fatalf("prompts %d accuracy %v", s.Prompts, s.PromptAccuracy)
	}
	if !strings.Contains(s.Markdown(), "0.5833") {
		t.Fatal("markdown lacks the overall score")
	}
}

func TestMetadataParsing(t *testing.T) {
	line := `{"tag": "position", "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}], "prompt": "a photo of a dog right of a teddy bear"}`
	m, err := ParseMetadata([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if m.Include[1].Position == nil || m.Include[1].Position.Relation != "right of" || m.Include[1].Position.Group != 0 {
		t.Fatalf("%+v", m.Include[1])
	}
	if m.MetadataJSON() != line {
		t.Fatal("the original line must be kept verbatim")
	}
	b, _ := json.Marshal(m.Include[1])
	if !strings.Contains(string(b), `"position":["right of",0]`) {
		t.Fatalf("position marshals as %s", b)
	}
	for _, bad := range []string{
		`{"tag": "x", "prompt": "p"}`,
		`{"tag": "x", "include": [{"class": "dog", "count": 0}]}`,
		`{"tag": "x", "include": [{"class": "dog", "count": 1, "position": ["beside", 0]}]}`,
		`{"tag": "x", "include": [{"class": "dog", "count": 1, "position": ["above", 0]}]}`,
		`not json`,
	} {
		if _, err := ParseMetadata([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestRLE(t *testing.T) {
	m := &Mask{Width: 3, Height: 2, Bits: []bool{false, true, true, false, false, true}}
	r := EncodeRLE(m)
	// Column-major pixels: (0,0)=0 (1,0)=0 | (0,1)=1 (1,1)=0 | (0,2)=1 (1,2)=1 -> runs 2,1,1,2.
	want := []int{2, 1, 1, 2}
	if len(r.Counts) != len(want) {
		t.Fatalf("counts %v", r.Counts)
	}
	for i := range want {
		if r.Counts[i] != want[i] {
			t.Fatalf("counts %v want %v", r.Counts, want)
		}
	}
	back, err := r.Decode()
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Bits {
		if back.Bits[i] != m.Bits[i] {
			t.Fatal("RLE round trip")
		}
	}
	if _, err := (&RLE{Size: [2]int{2, 2}, Counts: []int{5}}).Decode(); err == nil {
		t.Fatal("overlong runs accepted")
	}
}

func TestZeroShotAndCrop(t *testing.T) {
	// A fake text encoder: the embedding has a 1 at the colour's index (plus template noise), so each
	// colour's classifier points at its own axis.
	encode := func(texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, text := range texts {
			v := make([]float32, len(ColorNames)+1)
			for c, name := range ColorNames {
				if strings.Contains(text, " "+name+" ") || strings.Contains(text, " "+name+"-") {
					v[c] = 1
				}
			}
			v[len(ColorNames)] = float32(i%3) * 0.1
			out[i] = v
		}
		return out, nil
	}
	w, err := ZeroShotWeights(encode, "car")
	if err != nil {
		t.Fatal(err)
	}
	img := make([]float32, len(ColorNames)+1)
	img[4] = 3 // "blue"
	if got := ColorNames[Classify(img, w)]; got != "blue" {
		t.Fatalf("classified %s", got)
	}
	var n float64
	for _, v := range w[0] {
		n += v * v
	}
	if math.Abs(n-1) > 1e-12 {
		t.Fatalf("classifier weights not normalised: %v", n)
	}

	src := imaging.NewRGB8(6, 4)
	for i := range src.Pix {
		src.Pix[i] = 200
	}
	mask := &Mask{Width: 6, Height: 4, Bits: make([]bool, 24)}
	mask.Bits[1*6+2] = true
	crop, err := ColorCrop(src, Detection{Box: Box{1.5, 0.5, 4.5, 2.5}, Mask: mask}, [3]uint8{0x99, 0x99, 0x99}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Round half to even: (1.5, 0.5, 4.5, 2.5) -> (2, 0, 4, 2).
	if crop.Width != 2 || crop.Height != 2 {
		t.Fatalf("crop %dx%d", crop.Width, crop.Height)
	}
	if crop.At(0, 1, 0) != 200 || crop.At(1, 1, 0) != 0x99 || crop.At(0, 0, 0) != 0x99 {
		t.Fatalf("mask compositing: %v", crop.Pix)
	}
}

func writePNG(t *testing.T, path string, img *imaging.RGB8) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img.Image()); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestLayoutAndJSONLDetector(t *testing.T) {
	dir := t.TempDir()
	metaPath := filepath.Join(dir, "evaluation_metadata.jsonl")
	lines := []string{
		`{"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}`,
		`{"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"}`,
	}
	os.WriteFile(metaPath, []byte(strings.Join(lines, "\n")+"\n\n"), 0o644)
	md, err := ReadMetadata(metaPath)
	if err != nil || len(md) != 2 {
		t.Fatalf("%v %v", md, err)
	}
	out := filepath.Join(dir, "gen")
	if err := WriteLayout(out, md); err != nil {
		t.Fatal(err)
	}
	img := imaging.NewRGB8(8, 8)
	for p := 0; p < 2; p++ {
		for s := 0; s < 2; s++ {
			writePNG(t, SamplePath(out, p, s), img)
		}
	}
	os.WriteFile(filepath.Join(PromptDir(out, 1), "samples", "notes.txt"), nil, 0o644)
	os.MkdirAll(filepath.Join(out, "logs"), 0o755)
	samples, err := ScanLayout(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 4 || samples[2].Rel != "00001/samples/00000.png" || samples[2].Metadata.Tag != "colors" {
		t.Fatalf("%+v", samples)
	}
	recs := []DetectionRecord{
		{Filename: "00000/samples/00000.png", Detections: map[string][]DetectionEntry{"bench": {{Box: [4]float64{0, 0, 4, 4}, Score: 0.8}}}},
		{Filename: "00000/samples/00001.png", Detections: map[string][]DetectionEntry{"bench": {{Box: [4]float64{0, 0, 4, 4}, Score: 0.2}}}},
		{Filename: "00001/samples/00000.png", Detections: map[string][]DetectionEntry{"car": {{Box: [4]float64{0, 0, 4, 4}, Score: 0.8,
			Mask: EncodeRLE(&Mask{Width: 8, Height: 8, Bits: make([]bool, 64)})}}}},
		{Filename: "00001/samples/00001.png", Detections: map[string][]DetectionEntry{}},
	}
	var sb strings.Builder
	for _, r := range recs {
		b, _ := json.Marshal(r)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	detPath := filepath.Join(dir, "detections.jsonl")
	os.WriteFile(detPath, []byte(sb.String()), 0o644)
	det, err := LoadJSONLDetections(detPath)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Evaluator{Detector: det, Colors: stubColors{"car": {"red"}}, Options: DefaultOptions()}
	results, err := ev.Run(context.Background(), samples, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, true, false}
	for i, r := range results {
		if r.Correct != want[i] {
			t.Errorf("%s: correct=%v (%s)", r.Filename, r.Correct, r.Reason)
		}
	}
	if !strings.Contains(results[0].Details, `"bench":[[0,0,4,4,0.8]]`) || results[2].Metadata != lines[1] {
		t.Errorf("row fields: %+v", results[0])
	}
	resPath := filepath.Join(dir, "results.jsonl")
	if err := WriteResults(resPath, results); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(resPath)
	if err != nil || len(back) != 4 || back[2].Correct != true {
		t.Fatalf("%v %v", back, err)
	}
	s := Summarize(back)
	if s.Overall != 0.5 || s.PromptAccuracy != 1 {
		t.Fatalf("summary %+v", s)
	}
	// A sample missing from the detections file is an error.
	samples = append(samples, Sample{Rel: "00002/samples/00000.png", Metadata: md[0]})
	if _, err := ev.Run(context.Background(), samples, nil); err == nil {
		t.Fatal("missing detections accepted")
	}
}
