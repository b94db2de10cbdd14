package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/internal/testfile"
	"github.com/sprint-distill/sprint/safetensors"
)

// The bad-input suite: every case runs the CLI as a user does, on a wrong config, shard,
// weights file, checkpoint, run folder or flag, and asserts a non-zero exit that is not a crash
// (exit 2 is the internal-error code), no panic text, and a message naming the file, key,
// tensor or row and what was expected.

// fixtures are made once for the whole suite: tiny shapes shards, a tiny teacher and a short
// teacher run with checkpoints.
type fixtures struct {
	dir      string
	shards   string // folder of shapes shards (tiny)
	teacher  string // diffusers folder of a tiny teacher
	run      string // run folder of a 2-step teacher run (with checkpoints)
	cfg      string // a valid tiny teacher config (shards above)
	distill  string // a valid tiny distill config (teacher above)
	ckpt     string // a checkpoint file of the run
	plainST  string // a safetensors file that is not a checkpoint
	badInput func(t *testing.T, name, body string) string
}

var (
	fixOnce sync.Once
	fix     fixtures
	fixErr  error
)

const tinySets = `model:
  preset: tiny
data:
  paths: [%s]
  batch_size: 4
  shapes:
    num_samples: 32
train:
  name: t
  batch_size: 4
  max_steps: 2
  checkpoint_every: 1
  validate_every: 0
  run_dir: %s
log:
  tensorboard: false
  console: false
`

func getFixtures(t *testing.T) fixtures {
	t.Helper()
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sprint-badinput-")
		if err != nil {
			fixErr = err
			return
		}
		f := fixtures{dir: dir, shards: filepath.Join(dir, "shapes"), teacher: filepath.Join(dir, "teacher")}
		f.cfg = filepath.Join(dir, "teacher.yaml")
		body := fmt.Sprintf(tinySets, f.shards, filepath.Join(dir, "runs"))
		if err := os.WriteFile(f.cfg, []byte(body), 0o644); err != nil {
			fixErr = err
			return
		}
		f.distill = filepath.Join(dir, "distill.yaml")
		if err := os.WriteFile(f.distill, []byte(body+"distill:\n  teacher_weights: "+f.teacher+"\n  head_block_ids: [0, 1]\n"), 0o644); err != nil {
			fixErr = err
			return
		}
		steps := [][]string{
			{"data", "make-shapes", f.shards, "--config", f.cfg},
			{"model", "init", "--preset", "tiny", "--out", f.teacher},
			{"train-teacher", "--config", f.cfg},
		}
		for _, args := range steps {
			if code, _, stderr := runMainQuiet(args...); code != 0 {
				fixErr = fmt.Errorf("fixture %v: exit %d: %s", args, code, stderr)
				return
			}
		}
		f.run = filepath.Join(dir, "runs", "t")
		ck, _ := filepath.Glob(filepath.Join(f.run, "checkpoints", "step-*.safetensors"))
		if len(ck) == 0 {
			fixErr = fmt.Errorf("fixture run wrote no checkpoint")
			return
		}
		f.ckpt = ck[len(ck)-1]
		f.plainST = filepath.Join(dir, "plain.safetensors")
		fixErr = safetensors.WriteFile(f.plainST, map[string]*tensors.Tensor{"x": tensors.FromValue([]float32{1, 2})}, nil)
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

// runMainQuiet is runMain without a *testing.T (for fixtures).
func runMainQuiet(args ...string) (int, string, string) {
	return runMain(nil, args...)
}

// copyWith copies src to dst applying edit to its bytes.
func copyWith(t *testing.T, src, dst string, edit func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) string {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			copyWith(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), func(b []byte) []byte { return b })
		}
	}
	return dst
}

type badCase struct {
	name  string
	args  func(t *testing.T, f fixtures, tmp string) []string
	env   map[string]string
	wants []string
}

func static(args ...string) func(*testing.T, fixtures, string) []string {
	return func(*testing.T, fixtures, string) []string { return args }
}

// validateDemo is a case that runs `sprint config validate configs/demo.yaml` with more args.
func validateDemo(args ...string) func(*testing.T, fixtures, string) []string {
	return static(append([]string{"config", "validate", "../../configs/demo.yaml"}, args...)...)
}

func TestBadInputSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("bad-input suite trains a tiny fixture run")
	}
	cases := []badCase{
		// --- configs ---
		{"config missing file", static("config", "validate", "no/such.yaml"), nil, []string{"no/such.yaml"}},
		{"config malformed yaml", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"config", "validate", testfile.Write(t, tmp, "m.yaml", "train:\n  max_steps: [1, 2\n")}
		}, nil, []string{"m.yaml", "malformed YAML", "line"}},
		{"config unknown key", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"config", "validate", testfile.Write(t, tmp, "u.yaml", "train:\n  max_step: 3\n")}
		}, nil, []string{"u.yaml", "train.max_step", "did you mean train.max_steps"}},
		{"config wrong type", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"config", "validate", testfile.Write(t, tmp, "w.yaml", "train:\n  max_steps: many\n")}
		}, nil, []string{"train.max_steps", "expected an integer"}},
		{"config missing base", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"config", "validate", testfile.Write(t, tmp, "b.yaml", "base: gone.yaml\n")}
		}, nil, []string{"gone.yaml"}},
		{"config base cycle", func(t *testing.T, f fixtures, tmp string) []string {
			testfile.Write(t, tmp, "c2.yaml", "base: c1.yaml\n")
			return []string{"config", "validate", testfile.Write(t, tmp, "c1.yaml", "base: c2.yaml\n")}
		}, nil, []string{"c1.yaml", "c2.yaml"}},
		{"set without value", validateDemo("--set", "train.max_steps"), nil, []string{"expected key=value"}},
		{"use_pe with zero interpolation", validateDemo("--set", "model.use_pe=true", "--set", "model.pe_interpolation=0"), nil, []string{"model.pe_interpolation", "must be > 0"}},
		{"unknown text encoding", validateDemo("--set", "data.shapes.text_encoding=bag"), nil, []string{"text_encoding", `"bag"`, "positional, phrases, roles"}},
		{"demo on shards made otherwise", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"demo", "--config", "../../configs/demo.yaml", "--set", "data.paths=[" + f.shards + "]",
				"--set", "demo.dir=" + filepath.Join(tmp, "demo"), "--set", "train.run_dir=" + tmp}
		}, nil, []string{"data.paths", "/shapes were made with", "data.shapes.text_encoding positional (here roles)", "delete the folder"}},
		{"demo student not there", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"demo", "--config", "../../configs/demo.yaml", "--set", "demo.students=[" + filepath.Join(tmp, "long", "export", "student") + "]",
				"--set", "demo.dir=" + filepath.Join(tmp, "demo"), "--set", "train.run_dir=" + tmp}
		}, nil, []string{"demo.students[0]", filepath.Join("long", "export", "student")}},
		{"set unknown key", validateDemo("--set", "train.max_stepz=3"), nil, []string{"train.max_stepz", "did you mean train.max_steps"}},
		{"env typo", validateDemo(), map[string]string{"SPRINT_TRAIN_MAX_STEP": "3"},
			[]string{"SPRINT_TRAIN_MAX_STEP matches no config key", "SPRINT_TRAIN_MAX_STEPS"}},
		{"env bad value", validateDemo(), map[string]string{"SPRINT_TRAIN_MAX_STEPS": "lots"},
			[]string{"SPRINT_TRAIN_MAX_STEPS", "train.max_steps", "expected an integer"}},
		{"head block beyond depth", validateDemo("--set", "distill.head_block_ids=[1,7]"), nil,
			[]string{"distill.head_block_ids[1]: block 7 does not exist in a model of depth 4"}},
		{"head blocks out of order", validateDemo("--set", "distill.head_block_ids=[2,1]"), nil,
			[]string{"distill.head_block_ids[1]: block 1 must come after block 2"}},
		{"sigma data mismatch", validateDemo("--set", "distill.sigma_data=0.7"), nil, []string{"distill.sigma_data (0.7) and model.sigma_data (0.5"}},
		{"batch sizes disagree", validateDemo("--set", "train.batch_size=32"), nil,
			[]string{"train.batch_size (32, the global batch) must equal data.batch_size (16"}},
		{"nan learning rate", validateDemo("--set", "train.optimizer.lr=.nan"), nil, []string{"train.optimizer.lr: must be a finite number > 0, got NaN"}},
		{"negative learning rate", validateDemo("--set", "train.optimizer.lr=-1"), nil, []string{"train.optimizer.lr"}},
		{"zero discriminator lr scale", validateDemo("--set", "train.d_lr_scale=0"), nil, []string{"train.d_lr_scale", "must be a finite number > 0, got 0"}},
		{"empty demo student", validateDemo("--set", "demo.students=[\"\"]"), nil, []string{"demo.students[0]", "must not be empty"}},
		{"demo seed twice", validateDemo("--set", "demo.seeds=[42,7,42]"), nil, []string{"demo.seeds[2]", "seed 42 is listed twice"}},
		{"validate bad run kind", validateDemo("--run", "gan"), nil, []string{`--run "gan"`, "distill or train-teacher"}},
		{"validate two configs", validateDemo("--config", "../../configs/teacher_shapes.yaml"), nil, []string{"give the config once"}},
		{"validate a teacher fine-tune as a distillation", static("config", "validate", "../../configs/teacher_shapes_pe.yaml"), nil,
			[]string{"teacher_shapes_pe.yaml", "distill.head_block_ids", "because distill.teacher_weights is set", "--run train-teacher"}},
		{"recipe without inputs", static("config", "validate", "--config", "../../configs/sana_sprint_600m_1024px.yaml", "--check-paths"), nil,
			[]string{"data.paths: data/sana_1024px/*.arrow matches no shards", "distill.teacher_weights: weights/SANA_Sprint_0.6B", "null_embedding.safetensors not found", "sprint text encode"}},
		{"shapes stage without its data and previous stage", static("config", "validate", "../../configs/teacher_shapes_cooldown.yaml", "--run", "train-teacher", "--check-paths"), nil,
			[]string{"needs 2 input(s)", "`sprint data make-shapes runs/data/shapes_roles_halves --config ../../configs/teacher_shapes_cooldown.yaml`",
				`ema_teacher export of run "teacher_shapes_roles"`, "train.name is teacher_shapes_roles", "`make teacher`"}},
		{"teacher export of a stopped run", func(t *testing.T, f fixtures, tmp string) []string {
			run := filepath.Join(tmp, "stage3")
			testfile.Write(t, run, "checkpoints/latest", "step-000000010.safetensors\n")
			return []string{"config", "validate", "../../configs/teacher_shapes_cooldown.yaml", "--run", "train-teacher", "--check-paths",
				"--set", "distill.teacher_weights=" + filepath.Join(run, "export", "ema_teacher")}
		}, nil, []string{"stage3 has checkpoints", "--resume latest", "`sprint checkpoint export ", "stage3 --group ema_teacher --out "}},
		{"distill recipe without inputs", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"distill", "--config", "../../configs/sana_sprint_600m_1024px.yaml", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"distill needs 3 input(s)", "data/sana_1024px/*.arrow", "teacher_weights"}},

		// --- data shards ---
		{"data path matches nothing", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"distill", "--config", f.distill, "--set", "data.paths=[" + tmp + "/none/*.parquet]"}
		}, nil, []string{"data.paths", "none/*.parquet", "matches no shards"}},
		{"empty data folder", func(t *testing.T, f fixtures, tmp string) []string {
			empty := filepath.Join(tmp, "empty")
			_ = os.MkdirAll(empty, 0o755)
			return []string{"train-teacher", "--config", f.cfg, "--set", "data.paths=[" + empty + "]", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"data.paths", "empty"}},
		{"truncated shard", func(t *testing.T, f fixtures, tmp string) []string {
			src, _ := filepath.Glob(filepath.Join(f.shards, "*.parquet"))
			bad := copyWith(t, src[0], filepath.Join(tmp, "d", "shapes-00000.parquet"), func(b []byte) []byte { return b[:len(b)/2] })
			return []string{"data", "verify", bad}
		}, nil, []string{"shapes-00000.parquet"}},
		{"garbage shard", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"data", "verify", testfile.Write(t, tmp, "g/x.parquet", strings.Repeat("not a parquet file ", 20))}
		}, nil, []string{"x.parquet"}},
		{"garbage shard in a run", func(t *testing.T, f fixtures, tmp string) []string {
			bad := testfile.Write(t, tmp, "g2/x.arrow", strings.Repeat("garbage", 30))
			return []string{"train-teacher", "--config", f.cfg, "--set", "data.paths=[" + bad + "]", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"x.arrow"}},
		{"wrong-schema shard", func(t *testing.T, f fixtures, tmp string) []string {
			// A safetensors file named as an Arrow shard.
			bad := copyWith(t, f.plainST, filepath.Join(tmp, "s", "x.arrow"), func(b []byte) []byte { return b })
			return []string{"data", "inspect", bad}
		}, nil, []string{"x.arrow"}},
		{"verify missing path", static("data", "verify", "no/such/shards"), nil, []string{"no/such/shards"}},
		{"make-shapes bad count", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"data", "make-shapes", filepath.Join(tmp, "s2"), "--num-samples", "-5"}
		}, nil, []string{"num_samples"}},

		// --- weights ---
		{"teacher folder missing", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"distill", "--config", f.distill, "--set", "distill.teacher_weights=" + tmp + "/gone", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"distill.teacher_weights", "gone"}},
		{"teacher weights garbage", func(t *testing.T, f fixtures, tmp string) []string {
			w := testfile.Write(t, tmp, "tw/diffusion_pytorch_model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{not json}     ")
			return []string{"distill", "--config", f.distill, "--set", "distill.teacher_weights=" + filepath.Dir(w), "--set", "train.run_dir=" + tmp}
		}, nil, []string{"diffusion_pytorch_model.safetensors"}},
		{"teacher of another depth", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"distill", "--config", f.distill, "--set", "model.depth=3", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"is a different model from the config's", "model.depth"}},
		{"teacher without positional embedding", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"distill", "--config", f.distill, "--set", "model.use_pe=true", "--set", "train.run_dir=" + tmp}
		}, nil, []string{"distill.teacher_weights", "no positional embedding", "model.use_pe"}},
		{"teacher with NaN", func(t *testing.T, f fixtures, tmp string) []string {
			named, _, err := safetensors.Read(f.teacher)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := tensors.CopyFlatData[float32](named["proj_out.bias"])
			v[0] = float32(math.NaN())
			named["proj_out.bias"] = tensors.FromFlatDataAndDimensions(v, named["proj_out.bias"].Shape().Dimensions...)
			dir := copyDir(t, f.teacher, filepath.Join(tmp, "nan"))
			if err := safetensors.WriteFile(filepath.Join(dir, "diffusion_pytorch_model.safetensors"), named, nil); err != nil {
				t.Fatal(err)
			}
			return []string{"distill", "--config", f.distill, "--set", "distill.teacher_weights=" + dir, "--set", "train.run_dir=" + tmp}
		}, nil, []string{`tensor "proj_out.bias" holds 1 non-finite value`}},
		{"model info bad preset", static("model", "info", "--preset", "sana-9b"), nil, []string{"sana-9b"}},
		{"forward missing inputs file", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"model", "forward", "--weights", f.teacher, "--inputs", tmp + "/in.safetensors", "--out", tmp + "/o.safetensors"}
		}, nil, []string{"in.safetensors"}},
		{"forward inputs lack a tensor", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"model", "forward", "--weights", f.teacher, "--inputs", f.plainST, "--out", tmp + "/o.safetensors"}
		}, nil, []string{"plain.safetensors", `tensor "latents" is missing`}},
		{"sample without weights", static("sample", "--prompts", "a red circle", "--out", "x.png"), nil, []string{"--weights is required"}},
		{"sample bad decoder", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"sample", "--config", f.cfg, "--weights", f.teacher, "--teacher", "--decoder", "vae9", "--out", tmp + "/x.png", "--prompts", "a red circle"}
		}, nil, []string{"--decoder", "vae9"}},
		{"sample none without latents", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"sample", "--config", f.cfg, "--weights", f.teacher, "--teacher", "--decoder", "none", "--prompts", "a red circle"}
		}, nil, []string{"--decoder none", "--latents"}},
		{"sample caption width", func(t *testing.T, f fixtures, tmp string) []string {
			emb := filepath.Join(tmp, "emb.safetensors")
			if err := safetensors.WriteFile(emb, map[string]*tensors.Tensor{
				"text_embedding": tensors.FromFlatDataAndDimensions(make([]float32, 1*4*7), 1, 4, 7),
				"text_mask":      tensors.FromFlatDataAndDimensions([]float32{1, 1, 1, 1}, 1, 4),
			}, nil); err != nil {
				t.Fatal(err)
			}
			return []string{"sample", "--config", f.cfg, "--weights", f.teacher, "--teacher", "--embeddings", emb, "--out", tmp + "/x.png"}
		}, nil, []string{"emb.safetensors", "7 wide", "caption_dim"}},
		{"sample embeddings without mask", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"sample", "--config", f.cfg, "--weights", f.teacher, "--teacher", "--embeddings", f.plainST, "--out", tmp + "/x.png"}
		}, nil, []string{"plain.safetensors", "text_embedding", "text_mask"}},

		// --- checkpoints ---
		{"inspect missing", static("checkpoint", "inspect", "no/such/step-000000001.safetensors"), nil, []string{"no/such/step-000000001.safetensors"}},
		{"inspect not a checkpoint", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"checkpoint", "inspect", f.plainST}
		}, nil, []string{"plain.safetensors", "is not a run checkpoint"}},
		{"inspect flipped byte", func(t *testing.T, f fixtures, tmp string) []string {
			bad := copyWith(t, f.ckpt, filepath.Join(tmp, "c", filepath.Base(f.ckpt)), func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b })
			return []string{"checkpoint", "inspect", bad}
		}, nil, []string{"is damaged", "checksum"}},
		{"export unknown group", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"checkpoint", "export", f.ckpt, "--group", "student", "--out", tmp + "/e"}
		}, nil, []string{`no group "student"`, "teacher"}},
		{"export without out", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"checkpoint", "export", f.ckpt}
		}, nil, []string{"--out is required"}},
		{"list empty folder", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"checkpoint", "list", tmp}
		}, nil, []string{"no checkpoint found"}},

		// --- run folders and resume ---
		{"run folder is a file", func(t *testing.T, f fixtures, tmp string) []string {
			file := testfile.Write(t, tmp, "runfile", "x")
			return []string{"train-teacher", "--config", f.cfg, "--run-dir", file}
		}, nil, []string{"runfile"}},
		{"resume with no checkpoint", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"train-teacher", "--config", f.cfg, "--run-dir", filepath.Join(tmp, "fresh"), "--resume", "latest"}
		}, nil, []string{"no checkpoint found"}},
		{"resume with a changed config", func(t *testing.T, f fixtures, tmp string) []string {
			run := copyDir(t, filepath.Join(f.run, "checkpoints"), filepath.Join(tmp, "r", "checkpoints"))
			return []string{"train-teacher", "--config", f.cfg, "--set", "train.optimizer.lr=0.5", "--run-dir", filepath.Dir(run), "--resume", "latest"}
		}, nil, []string{"config differs from the checkpoint's", "train.optimizer.lr", "--allow-config-change"}},
		{"resume with every checkpoint damaged", func(t *testing.T, f fixtures, tmp string) []string {
			ck := copyDir(t, filepath.Join(f.run, "checkpoints"), filepath.Join(tmp, "d", "checkpoints"))
			files, _ := filepath.Glob(filepath.Join(ck, "step-*.safetensors"))
			for _, p := range files {
				copyWith(t, p, p, func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })
			}
			return []string{"train-teacher", "--config", f.cfg, "--run-dir", filepath.Dir(ck), "--resume", "auto"}
		}, nil, []string{"none loads", "is damaged"}},
		{"run without a --config", static("distill"), nil, []string{"--config is required"}},

		// --- flags and verbs ---
		{"unknown verb", static("distil"), nil, []string{`unknown command "distil"`}},
		{"unknown flag", static("config", "validate", "--chek-paths"), nil, []string{"unknown flag: --chek-paths"}},
		{"eval fid without weights", static("eval", "fid", "no/a", "no/b"), nil, []string{"eval.inception_weights", "pt_inception"}},
		{"eval fid wrong weights file", func(t *testing.T, f fixtures, tmp string) []string {
			return []string{"eval", "fid", "no/a", "no/b", "--inception", f.plainST}
		}, nil, []string{"plain.safetensors lack Conv2d_1a_3x3.conv.weight"}},
	}
	if len(cases) < 40 {
		t.Fatalf("the suite has %d cases, want at least 40", len(cases))
	}
	f := getFixtures(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args(t, f, t.TempDir())
			code, _, stderr := runMain(t, args...)
			if code == 0 || code == 2 {
				t.Fatalf("sprint %s: exit %d, want a user error (1):\n%s", strings.Join(args, " "), code, stderr)
			}
			for _, bad := range []string{"panic", "internal error", "goroutine ", "nil pointer"} {
				if strings.Contains(stderr, bad) {
					t.Fatalf("sprint %s: %q in the message:\n%s", strings.Join(args, " "), bad, stderr)
				}
			}
			for _, w := range c.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("sprint %s: message lacks %q:\n%s", strings.Join(args, " "), w, stderr)
				}
			}
		})
	}
}
