package generate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/testbackend"
	"github.com/sprint-distill/sprint/model"
)

func tinyJob(t *testing.T, steps int) *Job {
	t.Helper()
	cfg, err := model.PresetConfig(model.PresetTiny)
	if err != nil {
		t.Fatal(err)
	}
	params, err := model.InitParams(cfg, model.Student, 3)
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := distill.NewStudentSampler(testbackend.Get(t), cfg, params, distill.StudentSampling{Steps: steps, Guidance: 4.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sampler.Close)
	enc, err := data.DefaultShapesConfig().TextEncoder()
	if err != nil {
		t.Fatal(err)
	}
	return &Job{Text: ShapesText{enc}, Sampler: sampler, Decoder: decode.Shapes,
		Latent: [3]int{cfg.InChannels, cfg.LatentSize, cfg.LatentSize}, BatchSize: 3, Seed: 11}
}

func items(dir string, n int) []Item {
	prompts := []string{"a red circle", "two blue squares", "a green triangle", "a yellow circle left of a red square",
		"three red circles", "a blue square", "a green circle above a blue triangle"}
	out := make([]Item, n)
	for i := range out {
		out[i] = Item{Prompt: prompts[i%len(prompts)], Path: filepath.Join(dir, fmt.Sprintf("%02d.png", i))}
	}
	return out
}

func readAll(t *testing.T, its []Item) [][]byte {
	t.Helper()
	out := make([][]byte, len(its))
	for i, it := range its {
		b, err := os.ReadFile(it.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestResumeWritesOnlyMissing: a second run writes only the deleted images, byte-identical to
// the first run's, and shards split the batches without overlap into the same images.
func TestResumeWritesOnlyMissing(t *testing.T) {
	job := tinyJob(t, 2)
	dir := t.TempDir()
	its := items(dir, 7)
	st, err := job.Run(context.Background(), its)
	if err != nil || st.Written != 7 || st.Batches != 3 {
		t.Fatalf("first run: %+v %v", st, err)
	}
	first := readAll(t, its)
	for _, i := range []int{1, 6} {
		if err := os.Remove(its[i].Path); err != nil {
			t.Fatal(err)
		}
	}
	st, err = job.Run(context.Background(), its)
	if err != nil || st.Written != 2 || st.Present != 5 || st.Batches != 2 {
		t.Fatalf("resumed run: %+v %v", st, err)
	}
	for i, b := range readAll(t, its) {
		if !bytes.Equal(b, first[i]) {
			t.Fatalf("image %d differs after resuming", i)
		}
	}
	// Two shards into another folder make the same images.
	dir2 := t.TempDir()
	its2 := items(dir2, 7)
	total := 0
	for s := range 2 {
		job.Shard, job.Shards = s, 2
		st, err := job.Run(context.Background(), its2)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Written
	}
	if total != 7 {
		t.Fatalf("shards wrote %d images, want 7", total)
	}
	for i, b := range readAll(t, its2) {
		if !bytes.Equal(b, first[i]) {
			t.Fatalf("sharded image %d differs", i)
		}
	}
}

// TestInterruptedRunResumes: a run cancelled after its first batch leaves complete files only,
// and the resumed run finishes with the images of an uninterrupted one.
func TestInterruptedRunResumes(t *testing.T) {
	job := tinyJob(t, 1)
	ref := items(t.TempDir(), 6)
	if _, err := job.Run(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	its := items(dir, 6)
	ctx, cancel := context.WithCancel(context.Background())
	job.Text = &cancelAfter{job.Text, cancel, 1}
	if _, err := job.Run(ctx, its); err == nil {
		t.Fatal("cancelled run reported no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 || len(entries) >= 6 {
		t.Fatalf("%d files after the interruption, want some but not all", len(entries))
	}
	job.Text = job.Text.(*cancelAfter).TextEncoder
	st, err := job.Run(context.Background(), its)
	if err != nil || st.Written != 6-len(entries) {
		t.Fatalf("resume: %+v %v", st, err)
	}
	want := readAll(t, ref)
	for i, b := range readAll(t, its) {
		if !bytes.Equal(b, want[i]) {
			t.Fatalf("image %d differs from the uninterrupted run", i)
		}
	}
}

// cancelAfter cancels the context once n batches have been encoded.
type cancelAfter struct {
	TextEncoder
	cancel context.CancelFunc
	n      int
}

func (c *cancelAfter) Encode(ctx context.Context, prompts []string) (*tensors.Tensor, *tensors.Tensor, error) {
	emb, mask, err := c.TextEncoder.Encode(ctx, prompts)
	if c.n--; c.n <= 0 {
		c.cancel()
	}
	return emb, mask, err
}
