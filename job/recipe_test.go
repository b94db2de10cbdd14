package job

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

// recipeFixture writes what a released recipe needs from disk, with random values at the
// shapes and dtypes the config names: rows shards of latents (C, side, side) and caption
// embeddings (L, Dc) with masks in data.latent_dtype / data.text_dtype and data.format, the
// null caption beside them, and a random teacher in the diffusers layout (stored in dtype).
// It returns the --set overrides that point the config at them.
func recipeFixture(t testing.TB, dir string, cfg *config.Config, side, captionLen, rows int, teacherDType string) []string {
	t.Helper()
	mcfg, err := cfg.Model.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	lat, err := data.ParseDType(cfg.Data.LatentDType)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := data.ParseDType(cfg.Data.TextDType)
	if err != nil {
		t.Fatal(err)
	}
	shards := filepath.Join(dir, "shards")
	w, err := data.NewWriter(shards, data.WriterOptions{Format: data.Format(cfg.Data.Format), LatentDType: lat, TextDType: txt})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 4))
	randn := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	c, dc := mcfg.InChannels, mcfg.CaptionDim
	for i := range rows {
		mask := make([]float32, captionLen)
		for j := range mask {
			if j < captionLen-3*i {
				mask[j] = 1
			}
		}
		row := &data.Row{Key: fmt.Sprintf("r%d", i), Prompt: fmt.Sprintf("prompt %d", i),
			Latent: randn(c*side*side, 1), LatentShape: [3]int{c, side, side},
			TextEmbedding: randn(captionLen*dc, 1), TextShape: [2]int{captionLen, dc}, TextMask: mask}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	null := tensors.FromFlatDataAndDimensions(randn(captionLen*dc, 0.5), captionLen, dc)
	if err := safetensors.WriteFile(filepath.Join(shards, NullEmbeddingFile), map[string]*tensors.Tensor{distill.NullEmbedding: null}, nil); err != nil {
		t.Fatal(err)
	}
	f32, err := mcfg.WithDType(dtypes.Float32)
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := model.InitParams(f32, model.Teacher, 5)
	if err != nil {
		t.Fatal(err)
	}
	teacherDir := filepath.Join(dir, "teacher")
	if err := checkpoints.ExportDiffusers(teacherDir, f32, teacher, checkpoints.ExportOptions{DType: teacherDType}); err != nil {
		t.Fatal(err)
	}
	return []string{
		"data.paths=[" + shards + "]",
		"distill.teacher_weights=" + teacherDir,
		"train.run_dir=" + filepath.Join(dir, "runs"),
	}
}

// TestReleasedRecipesStart runs the released 0.6B and 1.6B recipes, unchanged but for their
// files, the batch and a reduced network, through job.New and two global steps (G then D) on
// data of the recipes' channel count (32), caption width (2304) and caption length (300),
// stored in the recipes' dtypes (bfloat16 shards) and computed as they say (bfloat16 compute,
// float32 masters, gradient checkpointing): a recipe that cannot start fails here. Reduced for
// CPU speed: width 64 (2 self-attention heads of 32, 2 cross heads), depth 4 with heads on
// blocks 1 and 3 (the released [2, 8, 14, 19] need depth 20), an 8×8 latent instead of 32×32
// (64 tokens instead of 1024), batch 2.
func TestReleasedRecipesStart(t *testing.T) {
	for _, recipe := range []string{"sana_sprint_600m_1024px.yaml", "sana_sprint_1600m_1024px.yaml"} {
		t.Run(recipe, func(t *testing.T) {
			path := filepath.Join("..", "configs", recipe)
			reduced := []string{"model.hidden_size=64", "model.cross_heads=2", "model.latent_size=8", "model.depth=4", "distill.head_block_ids=[1,3]",
				"data.batch_size=2", "train.batch_size=2", "train.max_steps=2", "train.validate_every=0", "log.tensorboard=false"}
			cfg, err := config.Load(path, reduced)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Model.DType != "bfloat16" || cfg.Data.LatentDType != "bfloat16" || cfg.Train.Precision != "mixed" || !cfg.Model.GradCheckpointing {
				t.Fatalf("%s no longer says bf16 compute and shards, mixed precision and grad checkpointing", recipe)
			}
			dir := t.TempDir()
			sets := append(reduced, recipeFixture(t, dir, cfg, 8, 300, 4, "bfloat16")...)
			if cfg, err = config.Load(path, sets); err != nil {
				t.Fatal(err)
			}
			j, err := New(context.Background(), backend(t), cfg, Distill, Options{Console: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			student := j.Run.Groups()[distill.StudentGroup]
			for _, n := range []string{"proj_out.weight", model.LogvarWeight} {
				if student[n].DType() != dtypes.Float32 {
					t.Errorf("student %s is %s, want float32 master weights", n, student[n].DType())
				}
			}
			if dt := j.Run.Groups()[distill.TeacherGroup]["proj_out.weight"].DType(); dt != dtypes.BFloat16 {
				t.Errorf("frozen teacher stored in %s, want bfloat16", dt)
			}
			res, err := j.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.GlobalStep != 2 {
				t.Fatalf("stopped at global step %d", res.GlobalStep)
			}
			m, err := os.ReadFile(filepath.Join(j.Run.Dir(), "metrics.jsonl"))
			if err != nil || len(m) == 0 {
				t.Fatalf("metrics: %v", err)
			}
			t.Logf("%s: 2 steps; metrics %s", recipe, firstLine(m))
		})
	}
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

// TestWriteRecipeFixture writes the released 0.6B recipe's real-shaped inputs (32x32x32 bf16
// latents, 300x2304 bf16 captions, the null caption, a random bf16 teacher) into the folder
// SPRINTTEST_RECIPE_DIR names, for a measured CPU run of the unchanged recipe; skipped otherwise.
// SPRINTTEST_RECIPE_SET adds space-separated --set overrides (e.g. "model.depth=4" for a
// teacher of reduced depth, for memory measurements at several depths).
func TestWriteRecipeFixture(t *testing.T) {
	dir := os.Getenv("SPRINTTEST_RECIPE_DIR")
	if dir == "" {
		t.Skip("set SPRINTTEST_RECIPE_DIR to write the 0.6B recipe's real-shaped inputs")
	}
	cfg, err := config.Load(filepath.Join("..", "configs", "sana_sprint_600m_1024px.yaml"), strings.Fields(os.Getenv("SPRINTTEST_RECIPE_SET")))
	if err != nil {
		t.Fatal(err)
	}
	recipeFixture(t, dir, cfg, 32, 300, 4, "bfloat16")
}
