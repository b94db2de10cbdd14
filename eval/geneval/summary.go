package geneval

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/eval/internal/progress"
)

// Tasks are GenEval's six task tags in report order.
var Tasks = []string{"single_object", "two_object", "counting", "colors", "position", "color_attr"}

// Result is one row of results.jsonl, with GenEval's fields.
type Result struct {
	Filename string `json:"filename"`
	Tag      string `json:"tag"`
	Prompt   string `json:"prompt"`
	Correct  bool   `json:"correct"`
	Reason   string `json:"reason"`
	Metadata string `json:"metadata"` // the prompt's metadata line (JSON text)
	Details  string `json:"details"`  // JSON text: class -> [[x1, y1, x2, y2, score], ...] kept after filtering
}

func detailsJSON(d Detections) string {
	m := map[string][][5]float64{}
	for class, dets := range d {
		for _, x := range dets {
			m[class] = append(m[class], [5]float64{x.Box.X1, x.Box.Y1, x.Box.X2, x.Box.Y2, x.Score})
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Evaluator scores samples.
type Evaluator struct {
	Detector Detector
	Colors   ColorClassifier // needed for colour clauses
	Options  Options
	// NeedImage makes Run decode images even when no colour clause needs them (a Detector that
	// looks at pixels sets it).
	NeedImage bool
}

// EvaluateSample detects, filters and applies the rules to one sample.
func (e *Evaluator) EvaluateSample(s Sample) (Result, error) {
	var img *imaging.RGB8
	needsColor := false
	for _, c := range s.Metadata.Include {
		needsColor = needsColor || c.Color != ""
	}
	if needsColor || e.NeedImage {
		var err error
		if img, err = imaging.Load(s.Path); err != nil {
			return Result{}, err
		}
	}
	raw, err := e.Detector.Detect(s, img)
	if err != nil {
		return Result{}, err
	}
	det := Filter(raw, e.Options.ThresholdFor(s.Metadata.Tag), e.Options)
	ok, reason, err := Evaluate(s.Metadata, det, img, e.Colors, e.Options)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", s.Rel, err)
	}
	return Result{Filename: s.Rel, Tag: s.Metadata.Tag, Prompt: s.Metadata.Prompt, Correct: ok, Reason: reason,
		Metadata: s.Metadata.MetadataJSON(), Details: detailsJSON(det)}, nil
}

// Run evaluates every sample in order, reporting progress to w (nil for none).
func (e *Evaluator) Run(ctx context.Context, samples []Sample, w io.Writer) ([]Result, error) {
	rep := progress.New(w, "geneval", "images", len(samples))
	out := make([]Result, 0, len(samples))
	for _, s := range samples {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := e.EvaluateSample(s)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		rep.Add(1)
	}
	rep.Finish()
	return out, nil
}

// WriteResults writes results.jsonl.
func WriteResults(path string, results []Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadResults reads results.jsonl (ours or GenEval's).
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var r Result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// TaskScore is one task's accuracy over its images.
type TaskScore struct {
	Tag      string  `json:"tag"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

// Summary is GenEval's summary_scores output.
type Summary struct {
	Tasks []TaskScore `json:"tasks"`
	// Overall is the unweighted mean of the task accuracies: GenEval's score.
	Overall float64 `json:"overall"`
	// ImageAccuracy is the fraction of correct images; PromptAccuracy the fraction of prompts with at
	// least one correct image. Reported, not part of the score.
	ImageAccuracy  float64 `json:"image_accuracy"`
	PromptAccuracy float64 `json:"prompt_accuracy"`
	Images         int     `json:"images"`
	Prompts        int     `json:"prompts"`
}

// Summarize aggregates results: per-task accuracy over images, and their unweighted mean over the
// tasks present.
func Summarize(results []Result) Summary {
	byTag := map[string]*TaskScore{}
	prompts := map[string]bool{}
	var s Summary
	correct := 0
	for _, r := range results {
		ts := byTag[r.Tag]
		if ts == nil {
			ts = &TaskScore{Tag: r.Tag}
			byTag[r.Tag] = ts
		}
		ts.Total++
		key := r.Metadata
		if key == "" {
			key = r.Prompt
		}
		if r.Correct {
			ts.Correct++
			correct++
			prompts[key] = true
		} else if _, seen := prompts[key]; !seen {
			prompts[key] = false
		}
	}
	var tags []string
	for _, t := range Tasks {
		if byTag[t] != nil {
			tags = append(tags, t)
		}
	}
	var extra []string
	for t := range byTag {
		if !contains(Tasks, t) {
			extra = append(extra, t)
		}
	}
	sort.Strings(extra)
	tags = append(tags, extra...)
	for _, t := range tags {
		ts := byTag[t]
		ts.Accuracy = float64(ts.Correct) / float64(ts.Total)
		s.Tasks = append(s.Tasks, *ts)
		s.Overall += ts.Accuracy / float64(len(tags))
	}
	s.Images = len(results)
	s.Prompts = len(prompts)
	if s.Images > 0 {
		s.ImageAccuracy = float64(correct) / float64(s.Images)
	}
	nOK := 0
	for _, ok := range prompts {
		if ok {
			nOK++
		}
	}
	if s.Prompts > 0 {
		s.PromptAccuracy = float64(nOK) / float64(s.Prompts)
	}
	return s
}

// Markdown renders the summary as a table.
func (s Summary) Markdown() string {
	out := "| task | correct | images | accuracy |\n|---|---:|---:|---:|\n"
	for _, t := range s.Tasks {
		out += fmt.Sprintf("| %s | %d | %d | %.4f |\n", t.Tag, t.Correct, t.Total, t.Accuracy)
	}
	out += fmt.Sprintf("| **overall (mean of tasks)** | | %d | **%.4f** |\n", s.Images, s.Overall)
	out += fmt.Sprintf("\ncorrect images %.2f%%, correct prompts %.2f%% (%d prompts)\n", 100*s.ImageAccuracy, 100*s.PromptAccuracy, s.Prompts)
	return out
}
