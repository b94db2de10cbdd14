package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/model"
	"github.com/sprint-distill/sprint/safetensors"
)

func init() {
	registerGroup("model", "Inspect, initialise and run the SANA Linear DiT (teacher and student)",
		`model works with the network alone: parameter counts from shapes, fresh or teacher-derived
weights in diffusers' layout, and a forward pass on given inputs for parity checks against
other implementations. The model shape comes from --config (the model: section), --preset,
or the config.json beside diffusers weights.`,
		newModelInfoCmd, newModelInitCmd, newModelForwardCmd)
}

// modelFlags select the model config: a config file (with --set), a preset, or neither.
type modelFlags struct {
	configFlags
	configPath string
	preset     string
}

func (f *modelFlags) add(cmd *cobra.Command) {
	f.configFlags.add(cmd)
	cmd.Flags().StringVar(&f.configPath, "config", "", "YAML config whose model: section describes the network")
	cmd.Flags().StringVar(&f.preset, "preset", "", "model preset: "+strings.Join(model.Presets(), ", ")+" (sets model.preset)")
}

func (f *modelFlags) given() bool { return f.configPath != "" || f.preset != "" || len(f.sets) > 0 }

// load resolves the model config from the flags; fallback (if not nil) is used when no flag
// names a config.
func (f *modelFlags) load(fallback func() (model.Config, error)) (model.Config, error) {
	if !f.given() && fallback != nil {
		return fallback()
	}
	sets := slices.Clone(f.sets)
	if f.preset != "" {
		sets = append(sets, "model.preset="+f.preset)
	}
	cfg, err := config.Load(f.configPath, sets)
	if err != nil {
		return model.Config{}, err
	}
	return cfg.Model.Resolved()
}

// parseRole reads --role: a role by its name.
func parseRole(s string) (model.Role, error) {
	for _, r := range []model.Role{model.Teacher, model.Student} {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("--role %q: want teacher or student", s)
}

func newModelInfoCmd() *cobra.Command {
	var flags modelFlags
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Parameter counts per group and in total, teacher and student, from shapes alone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load(nil)
			if err != nil {
				return err
			}
			return writeModelInfo(cmd.OutOrStdout(), cfg)
		},
	}
	flags.add(cmd)
	return cmd
}

func writeModelInfo(w io.Writer, cfg model.Config) error {
	cfg, err := cfg.ResolvedValid()
	if err != nil {
		return err
	}
	name := cfg.Preset
	if name == "" {
		name = "(custom)"
	}
	side := cfg.LatentSize
	fmt.Fprintf(w, "model %s: D=%d, %d blocks, linear self-attention %d×%d, cross-attention %d×%d, Mix-FFN %d\n",
		name, cfg.HiddenSize, cfg.Depth, cfg.SelfHeads(), cfg.SelfHeadDim, cfg.CrossHeads, cfg.HiddenSize/cfg.CrossHeads, cfg.FFNHidden())
	fmt.Fprintf(w, "input %d×%d×%d latent, patch %d → %d tokens; caption %d×%d; qk_norm=%v cross_norm=%v dense_time=%v dtype=%s\n",
		cfg.InChannels, side, side, cfg.PatchSize, cfg.Tokens(side), cfg.CaptionLen, cfg.CaptionDim, cfg.QKNorm, cfg.CrossNorm, cfg.DenseTime, cfg.DType)
	fmt.Fprintf(w, "forward ≈ %.3g GFLOP per sample (matrix products; a backward pass about twice that)\n\n",
		model.ForwardFLOPs(cfg, side, cfg.CaptionLen)/1e9)

	tGroups, tTotal := model.CountParams(model.ParamSpecs(cfg, model.Teacher))
	sGroups, sTotal := model.CountParams(model.ParamSpecs(cfg, model.Student))
	row := func(name string, t, s int64) { fmt.Fprintf(w, "%-28s %15s %15s\n", name, thousands(t), thousands(s)) }
	fmt.Fprintf(w, "%-28s %15s %15s\n", "parameters", "teacher", "student")
	for _, g := range model.ParamGroups() {
		row("  "+g, tGroups[g], sGroups[g])
	}
	row("total", tTotal, sTotal)
	row("diffusers (no logvar head)", tTotal-tGroups["logvar"], sTotal-sGroups["logvar"])
	return nil
}

// thousands formats n with comma separators: 1604641952 → "1,604,641,952".
func thousands(n int64) string { return englishNumbers.Sprint(n) }

// englishNumbers prints numbers with English digit grouping.
var englishNumbers = message.NewPrinter(language.English)

func newModelInitCmd() *cobra.Command {
	var flags modelFlags
	var roleName, out, fromTeacher, dtype string
	var seed int64
	cmd := &cobra.Command{
		Use:   "init --out DIR",
		Short: "Write freshly initialised weights (or a student derived from a teacher) as a diffusers folder",
		Long: `init writes DIR/diffusion_pytorch_model.safetensors and DIR/config.json for
SanaTransformer2DModel. With --role student and --from-teacher, the student is the teacher's
weights with the time embedder renamed and a fresh guidance embedder whose last layer is zero
(so it starts equal to the teacher); otherwise every weight gets the reference initialisation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			role, err := parseRole(roleName)
			if err != nil {
				return err
			}
			cfg, err := flags.load(func() (model.Config, error) {
				if fromTeacher != "" {
					return configFromDiffusers(fromTeacher)
				}
				return model.Config{}, fmt.Errorf("give --config, --preset or --from-teacher")
			})
			if err != nil {
				return err
			}
			var p model.Params
			switch {
			case fromTeacher != "" && role == model.Student:
				teacher, err := checkpoints.LoadDiffusers(fromTeacher, cfg, model.Teacher)
				if err != nil {
					return err
				}
				if p, err = model.StudentFromTeacher(cfg, teacher, seed); err != nil {
					return err
				}
			case fromTeacher != "":
				return fmt.Errorf("--from-teacher needs --role student")
			default:
				if p, err = model.InitParams(cfg, role, seed); err != nil {
					return err
				}
			}
			if err := checkpoints.ExportDiffusers(out, cfg, p, checkpoints.ExportOptions{DType: dtype}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s weights to %s\n", role, out)
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&roleName, "role", "teacher", "teacher or student")
	cmd.Flags().StringVar(&out, "out", "", "output folder")
	cmd.Flags().StringVar(&fromTeacher, "from-teacher", "", "teacher weights (diffusers file or folder) to derive the student from")
	cmd.Flags().StringVar(&dtype, "dtype", "", "stored dtype: float32, bfloat16, float16 (default: the model dtype)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "initialisation seed")
	return cmd
}

// configFromDiffusers reads the config.json beside diffusers weights (a folder or a file in it).
func configFromDiffusers(weights string) (model.Config, error) {
	dir := weights
	if st, err := os.Stat(weights); err == nil && !st.IsDir() {
		dir = filepath.Dir(weights)
	}
	dc, err := checkpoints.ReadDiffusersConfig(dir)
	if err != nil {
		return model.Config{}, fmt.Errorf("no --config or --preset, and %w", err)
	}
	cfg, _, err := dc.ModelConfig()
	return cfg, err
}

func newModelForwardCmd() *cobra.Command {
	var flags modelFlags
	var weights, inputs, out, roleName, features string
	var guidance float64
	cmd := &cobra.Command{
		Use:   "forward --weights W --inputs IN.safetensors --out OUT.safetensors",
		Short: "Run the teacher (velocity) or the student (TrigFlow F) on given inputs",
		Long: `forward loads diffusers weights and runs one forward pass on the tensors of a safetensors
file, for parity checks against other implementations:

  latents   (B, C, H, W)  teacher: flow-space input x_t; student: TrigFlow input x̂ = x_θ/σd
  timestep  (B)           teacher: flow time t ∈ [0, 1]; student: TrigFlow angle θ ∈ [0, π/2]
  text      (B, L, Dc)    text-encoder hidden states (alias encoder_hidden_states)
  mask      (B, L)        1 = token, 0 = padding; optional (alias encoder_attention_mask)
  guidance  (B)           student only: raw guidance scale w (default --guidance)

The teacher writes "velocity" (B, C, H, W); the student writes "F" (the TrigFlow output,
F = [(1−2t)·x_flow + (1−2t+2t²)·v]/√(t²+(1−t)²)) and "logvar" (B). --features adds the
outputs of the listed blocks as "features.<i>" (B, N, D). The role is read from the weights
(a guidance embedder means student) unless --role says otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if weights == "" || inputs == "" || out == "" {
				return fmt.Errorf("--weights, --inputs and --out are required")
			}
			cfg, err := flags.load(func() (model.Config, error) { return configFromDiffusers(weights) })
			if err != nil {
				return err
			}
			role, err := checkpoints.DiffusersRole(weights)
			if err != nil {
				return err
			}
			if roleName != "" {
				if role, err = parseRole(roleName); err != nil {
					return err
				}
			}
			blocks, err := parseBlockList(features, cfg.Depth)
			if err != nil {
				return err
			}
			for _, msg := range checkpoints.ConfigWarnings(weights) {
				fmt.Fprintln(cmd.ErrOrStderr(), msg)
			}
			p, err := checkpoints.LoadDiffusers(weights, cfg, role)
			if err != nil {
				return err
			}
			in, err := job.ReadForwardInputs(inputs, cfg, role, guidance)
			if err != nil {
				return err
			}
			return withBackend(func(backend compute.Backend) error {
				outs, err := job.Forward(backend, cfg, role, p, in, blocks)
				if err != nil {
					return err
				}
				if err := safetensors.WriteFile(out, outs, map[string]string{"role": role.String()}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s forward, %d tensors)\n", out, role, len(outs))
				return nil
			})
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&weights, "weights", "", "diffusers weights: .safetensors file, *.index.json or folder")
	cmd.Flags().StringVar(&inputs, "inputs", "", "safetensors file with latents, timestep, text, mask, guidance")
	cmd.Flags().StringVar(&out, "out", "", "output safetensors file")
	cmd.Flags().StringVar(&roleName, "role", "", "teacher or student (default: from the weights)")
	cmd.Flags().StringVar(&features, "features", "", "comma-separated block indices whose outputs to write")
	cmd.Flags().Float64Var(&guidance, "guidance", 4.5, "student guidance scale w when the inputs have none")
	return cmd
}

func parseBlockList(s string, depth int) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var ids []int
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || id < 0 || id >= depth {
			return nil, fmt.Errorf("--features %q: %q is not a block index in [0, %d)", s, f, depth)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
