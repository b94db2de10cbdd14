package job

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/sprint-distill/sprint/caption"
	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/generate"
	"github.com/sprint-distill/sprint/model"
)

// TextEncoderShapes names the shapes dataset's own text encoder in GeneratorOptions.
const TextEncoderShapes = "shapes"

// GeneratorOptions say which networks make images from prompts.
type GeneratorOptions struct {
	// Student is the distilled student (a diffusers folder or file).
	Student string
	// Config supplies data.shapes for the shapes encoder, and the model section when the
	// student has no config.json beside its weights (which otherwise describes it).
	Config *config.Config
	// TextEncoder is a Gemma-2 folder, or "shapes" for the shapes dataset's encoder.
	TextEncoder string
	// Caption is SANA's caption handling for a Gemma encoder.
	Caption caption.Config
	// Decoder turns latents into images (decode.Shapes, decode.Preview, a DC-AE decoder).
	Decoder decode.Decoder
	// Steps, Guidance and Seed drive the student's sampler.
	Steps    int
	Guidance float64
	Seed     uint64
	// BatchSize, Shard and Shards are generate.Job's.
	BatchSize, Shard, Shards int
	// Progress receives progress lines.
	Progress io.Writer
}

// NewGenerator builds a generate.Job from the options; close releases its networks.
func NewGenerator(backend compute.Backend, o GeneratorOptions) (job *generate.Job, close func(), err error) {
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	if o.Student == "" {
		return nil, close, fmt.Errorf("no student weights to generate with (--student)")
	}
	if o.Decoder == nil {
		return nil, close, fmt.Errorf("no decoder to turn latents into images")
	}
	mcfg, err := generatorModel(o)
	if err != nil {
		return nil, close, err
	}
	for _, msg := range checkpoints.ConfigWarnings(o.Student) {
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, msg)
		}
	}
	params, err := checkpoints.LoadDiffusers(o.Student, mcfg, model.Student)
	if err != nil {
		return nil, close, err
	}
	sampler, err := distill.NewStudentSampler(backend, mcfg, params, distill.StudentSampling{Steps: o.Steps, Guidance: o.Guidance, Seed: int64(o.Seed)})
	if err != nil {
		return nil, close, err
	}
	closers = append(closers, sampler.Close)
	var text generate.TextEncoder
	switch o.TextEncoder {
	case "":
		return nil, close, fmt.Errorf("no text encoder (--text-encoder: a Gemma-2 folder such as google/gemma-2-2b-it, or %q)", TextEncoderShapes)
	case TextEncoderShapes:
		sc := config.Default().Data.Shapes
		if o.Config != nil {
			sc = o.Config.Data.Shapes
		}
		enc, err := sc.TextEncoder()
		if err != nil {
			return nil, close, err
		}
		text = generate.ShapesText{Encoder: enc}
	default:
		enc, err := caption.Open(backend, o.TextEncoder, o.Caption, caption.OpenOptions{})
		if err != nil {
			return nil, close, fmt.Errorf("--text-encoder: %w", err)
		}
		closers = append(closers, enc.Close)
		text = enc
	}
	return &generate.Job{Text: text, Sampler: sampler, Decoder: o.Decoder,
		Latent:    [3]int{mcfg.InChannels, mcfg.LatentSize, mcfg.LatentSize},
		BatchSize: max(o.BatchSize, 1), Seed: o.Seed, Shard: o.Shard, Shards: o.Shards, Progress: o.Progress}, close, nil
}

// generatorModel is the student's model config: its config.json, or the config's model section.
func generatorModel(o GeneratorOptions) (model.Config, error) {
	dir := o.Student
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	dc, err := checkpoints.ReadDiffusersConfig(dir)
	if err != nil {
		if o.Config != nil {
			return o.Config.Model.Resolved()
		}
		return model.Config{}, fmt.Errorf("the student's model: keep config.json beside its weights, or give a config with its model section: %w", err)
	}
	m, role, err := dc.ModelConfig()
	if err != nil {
		return model.Config{}, err
	}
	if role != model.Student {
		return model.Config{}, fmt.Errorf("%s is a teacher (no guidance embedder); generation needs a distilled student", o.Student)
	}
	return m.Resolved()
}
