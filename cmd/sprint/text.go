package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/caption"
	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/gemma"
	"github.com/sprint-distill/sprint/safetensors"
)

// Tensor names of `sprint text encode` outputs.
const (
	textEmbeddingKey = "text_embedding" // (n, L, D): one caption per prompt, the shards' column name
	textMaskKey      = "text_mask"      // (n, L): 1 for tokens, 0 for padding (float32)
	nullMaskKey      = "null_mask"      // (L): the null caption's mask, beside distill.NullEmbedding
)

func init() {
	registerGroup("text", "The Gemma-2 text encoder: model facts and SANA caption embeddings from prompts",
		`text runs SANA's text encoder, Gemma-2-2B-IT, from a local Hugging Face folder
(config.json, model.safetensors or a sharded index, tokenizer.model; e.g. a copy of
google/gemma-2-2b-it), with SANA's caption handling: the complex human instruction prepended,
300 caption tokens kept, right padding with a mask. Nothing is downloaded.`,
		newTextInfoCmd, newTextEncodeCmd)
}

// captionFlags select the caption layout (SANA's text_encoder: section).
type captionFlags struct {
	configPath      string
	sets            configFlags
	maxLength       int
	instructionFile string
	noInstruction   bool
	cmd             *cobra.Command
}

func (f *captionFlags) add(cmd *cobra.Command) {
	f.cmd = cmd
	cmd.Flags().StringVarP(&f.configPath, "config", "c", "", "YAML config whose text: section sets the caption layout (flags below override it)")
	f.sets.add(cmd)
	cmd.Flags().IntVar(&f.maxLength, "max-length", 300, "caption tokens kept (model_max_length)")
	cmd.Flags().StringVar(&f.instructionFile, "instruction-file", "", "file whose lines replace SANA's complex human instruction (chi_prompt)")
	cmd.Flags().BoolVar(&f.noInstruction, "no-instruction", false, "prepend no instruction (an empty chi_prompt)")
}

// config builds the caption configuration for a model of hidden size dim.
func (f *captionFlags) config(dim int) (caption.Config, error) {
	cfg := caption.DefaultConfig()
	if f.configPath != "" || len(f.sets.sets) > 0 {
		full, err := config.Load(f.configPath, f.sets.sets)
		if err != nil {
			return cfg, err
		}
		cfg = full.Text
	}
	if f.cmd == nil || f.cmd.Flags().Changed("max-length") || (f.configPath == "" && len(f.sets.sets) == 0) {
		cfg.ModelMaxLength = f.maxLength
	}
	if cfg.CaptionChannels != dim && (f.configPath != "" || len(f.sets.sets) > 0) {
		return cfg, fmt.Errorf("text.caption_channels is %d but the Gemma model's hidden size is %d", cfg.CaptionChannels, dim)
	}
	cfg.CaptionChannels = dim
	switch {
	case f.noInstruction && f.instructionFile != "":
		return cfg, errors.New("--no-instruction and --instruction-file: give one of them")
	case f.noInstruction:
		cfg.ChiPrompt = nil
	case f.instructionFile != "":
		b, err := os.ReadFile(f.instructionFile)
		if err != nil {
			return cfg, fmt.Errorf("--instruction-file: %w", err)
		}
		if !utf8.Valid(b) {
			return cfg, fmt.Errorf("--instruction-file %s: not valid UTF-8", f.instructionFile)
		}
		text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
		cfg.ChiPrompt = strings.Split(text, "\n")
	}
	if cfg.ModelMaxLength < 2 {
		return cfg, fmt.Errorf("--max-length %d: want at least 2", cfg.ModelMaxLength)
	}
	return cfg, cfg.Validate()
}

func newTextInfoCmd() *cobra.Command {
	var weights string
	var capFlags captionFlags
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Configuration, parameter counts, stored weights and tokenizer of a Gemma-2 folder",
		Long: `info reads config.json, tokenizer.model and the safetensors headers (not the weights
themselves): the architecture, parameter counts per part from the shapes, whether the stored
tensors match the config, the tokenizer's vocabulary and the caption layout SANA gets.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if weights == "" {
				return errors.New("--weights: the Gemma-2 folder is required (" + gemma.WantedFolder + ")")
			}
			return writeTextInfo(cmd.OutOrStdout(), weights, &capFlags)
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "Gemma-2 model folder (config.json, model*.safetensors, tokenizer.model)")
	capFlags.add(cmd)
	return cmd
}

func writeTextInfo(w io.Writer, dir string, capFlags *captionFlags) error {
	cfg, err := gemma.LoadConfig(dir)
	if err != nil {
		return err
	}
	var sliding []string
	for i := range cfg.NumLayers {
		if cfg.Sliding(i) {
			sliding = append(sliding, strconv.Itoa(i))
		}
	}
	fmt.Fprintf(w, "gemma2 %s\n", dir)
	fmt.Fprintf(w, "  %d layers, hidden %d, %d query heads sharing %d key/value heads of %d, MLP %d (GeGLU, %s), vocabulary %d\n",
		cfg.NumLayers, cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.IntermediateSize, cfg.HiddenActivation, cfg.VocabSize)
	window := "none"
	if cfg.SlidingWindow > 0 {
		window = fmt.Sprintf("%d on layers %s", cfg.SlidingWindow, strings.Join(sliding, ","))
	}
	softcap := "off"
	if cfg.AttnLogitSoftcapping > 0 {
		softcap = strconv.FormatFloat(cfg.AttnLogitSoftcapping, 'g', -1, 64)
	}
	fmt.Fprintf(w, "  sliding window %s; attention soft-cap %s; logits × %g^-1/2; rope θ %g; rms eps %g; stored %s\n\n",
		window, softcap, cfg.QueryPreAttnScalar, cfg.RopeTheta, cfg.RMSNormEps, orDash(cfg.TorchDType))

	specs := gemma.ParamSpecs(cfg)
	per, total := gemma.CountParams(specs)
	fmt.Fprintf(w, "%-12s %15s\n", "parameters", "count")
	for _, part := range gemma.ParamParts() {
		fmt.Fprintf(w, "%-12s %15s\n", part, thousands(per[part]))
	}
	fmt.Fprintf(w, "%-12s %15s   (%.2f GiB in float32, %.2f GiB in bfloat16; lm_head tied, not counted)\n\n",
		"total", thousands(total), float64(total)*4/(1<<30), float64(total)*2/(1<<30))

	fmt.Fprintf(w, "weights: %s\n", storedWeightsSummary(dir, cfg, specs))

	tok, err := gemma.LoadTokenizer(dir)
	if err != nil {
		fmt.Fprintf(w, "tokenizer: %v\n", err)
		return nil
	}
	fmt.Fprintf(w, "tokenizer: %d pieces, <bos> %d, <pad> %d, <eos> %d, <unk> %d", tok.VocabSize(), tok.BOS(), tok.Pad(), tok.EOS(), tok.Unknown())
	if err := gemma.CheckTokenizer(cfg, tok); err != nil {
		fmt.Fprintf(w, " — %v", err)
	}
	fmt.Fprintln(w)
	ccfg, err := capFlags.config(cfg.HiddenSize)
	if err != nil {
		return err
	}
	lay, err := caption.NewLayout(tok, ccfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "caption: instruction of %d lines = %d tokens with <bos>; encoder length T = %d; keeps %d positions (0 and %d…%d) of width %d\n",
		len(ccfg.ChiPrompt), lay.InstructionTokens, lay.Length, len(lay.Select), lay.Select[min(1, len(lay.Select)-1)], lay.Length-1, cfg.HiddenSize)
	return nil
}

// storedWeightsSummary describes the checkpoint's tensors from the safetensors headers alone.
func storedWeightsSummary(dir string, cfg gemma.Config, specs []gemma.ParamSpec) string {
	file, sharded, err := safetensors.Resolve(dir)
	if err != nil {
		return err.Error()
	}
	files := []string{file}
	if sharded {
		idx, err := safetensors.ReadIndex(file)
		if err != nil {
			return err.Error()
		}
		files = files[:0]
		for _, s := range idx.Shards() {
			files = append(files, filepath.Join(filepath.Dir(file), s))
		}
	}
	stored := map[string][]int{}
	dts := map[string]int{}
	for _, f := range files {
		infos, _, err := safetensors.ReadHeader(f)
		if err != nil {
			return err.Error()
		}
		for _, in := range infos {
			stored[in.Name] = in.Shape
			dts[in.DType.String()]++
		}
	}
	var missing, unexpected, misshaped []string
	for _, s := range specs {
		dims, ok := stored[s.Name]
		switch {
		case !ok:
			missing = append(missing, s.Name)
		case !slices.Equal(dims, s.Dims):
			misshaped = append(misshaped, fmt.Sprintf("%s %v (want %v)", s.Name, dims, s.Dims))
		}
	}
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
	}
	for name := range stored {
		if !want[name] && name != gemma.LMHead {
			unexpected = append(unexpected, name)
		}
	}
	slices.Sort(unexpected)
	var dtNames []string
	for dt, n := range dts {
		dtNames = append(dtNames, fmt.Sprintf("%d %s", n, dt))
	}
	slices.Sort(dtNames)
	s := fmt.Sprintf("%d file(s), %d tensors (%s)", len(files), len(stored), strings.Join(dtNames, ", "))
	if len(missing)+len(unexpected)+len(misshaped) == 0 {
		return s + ", all match config.json"
	}
	return fmt.Sprintf("%s; %d missing %s, %d unexpected %s, %d mis-shaped %s", s,
		len(missing), firstFew(missing), len(unexpected), firstFew(unexpected), len(misshaped), firstFew(misshaped))
}

func firstFew(names []string) string {
	if len(names) == 0 {
		return ""
	}
	if len(names) > 3 {
		return "(" + strings.Join(names[:3], ", ") + ", …)"
	}
	return "(" + strings.Join(names, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// textEncodeFlags are the flags of `sprint text encode`.
type textEncodeFlags struct {
	captionFlags
	weights      string
	prompts      []string
	promptsFile  string
	out          string
	nullOut      string
	noSoftCap    bool
	dtype        string
	weightsDType string
	batch        int
}

func newTextEncodeCmd() *cobra.Command {
	var f textEncodeFlags
	cmd := &cobra.Command{
		Use:   "encode",
		Short: "Encode prompts into SANA caption embeddings (and the null caption)",
		Long: `encode writes, for n prompts, text_embedding (n, L, D) and text_mask (n, L) (float32 0/1)
to --out, L = --max-length (300) and D the model's hidden size (2304), computed as SANA does
(instruction + prompt, right padding, <bos> and the last L−1 positions kept). --null-out also
writes the null caption's embedding ("" without the instruction), tensor null_embedding (L, D)
with its mask null_mask (L): the file distillation reads as null_embedding.safetensors beside
the shards.

The weights are computed in bfloat16 by default, as SANA loads Gemma (about 5.2 GB for the 2B
model; --weights-dtype float32 needs 10.5 GB but ran about 1.4x faster on the Go backend). The attention logit soft-cap is applied as in
transformers' eager attention (its default for Gemma-2 since 4.45); --no-softcap reproduces
embeddings made with kernels that skip it (SDPA, the default of transformers 4.42–4.44).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTextEncode(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.weights, "weights", "", "Gemma-2 model folder (config.json, model*.safetensors, tokenizer.model)")
	fl.StringArrayVar(&f.prompts, "prompt", nil, "a prompt (repeatable)")
	fl.StringVar(&f.promptsFile, "prompts", "", "file with one prompt per line")
	fl.StringVar(&f.out, "out", "", "output .safetensors file for text_embedding and text_mask")
	fl.StringVar(&f.nullOut, "null-out", "", "also write the null caption's embedding to this .safetensors file")
	fl.BoolVar(&f.noSoftCap, "no-softcap", false, "skip the attention logit soft-cap (reproduce SDPA-made embeddings)")
	fl.StringVar(&f.dtype, "dtype", "float32", "dtype of the written embeddings: float32 or bfloat16")
	fl.StringVar(&f.weightsDType, "weights-dtype", "bfloat16", "dtype the weights are computed in: bfloat16 (as SANA runs Gemma), float32 or stored")
	fl.IntVar(&f.batch, "batch", 4, "prompts per forward pass")
	f.captionFlags.add(cmd)
	return cmd
}

func parseFloatDType(flag, s string, allowStored bool) (dtypes.DType, error) {
	switch strings.ToLower(s) {
	case "float32", "f32", "fp32":
		return dtypes.Float32, nil
	case "bfloat16", "bf16":
		return dtypes.BFloat16, nil
	case "stored", "":
		if allowStored {
			return dtypes.InvalidDType, nil
		}
	}
	want := "float32 or bfloat16"
	if allowStored {
		want = "stored, float32 or bfloat16"
	}
	return dtypes.InvalidDType, fmt.Errorf("%s %q: want %s", flag, s, want)
}

// readTextPrompts reads one prompt per line (a final newline ends the last line; "\r\n" is
// accepted); an empty line or invalid UTF-8 is an error naming the line.
func readTextPrompts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	var prompts []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for line := 1; sc.Scan(); line++ {
		p := strings.TrimSuffix(sc.Text(), "\r")
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("--prompts %s: line %d is not valid UTF-8", path, line)
		}
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("--prompts %s: line %d is empty; want one prompt per line (the null caption is --null-out)", path, line)
		}
		prompts = append(prompts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--prompts %s: %w", path, err)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("--prompts %s: no prompts in it", path)
	}
	return prompts, nil
}

func runTextEncode(cmd *cobra.Command, f *textEncodeFlags) error {
	switch {
	case f.weights == "":
		return errors.New("--weights: the Gemma-2 folder is required (" + gemma.WantedFolder + ")")
	case f.out == "":
		return errors.New("--out: the output .safetensors file is required")
	case len(f.prompts) > 0 && f.promptsFile != "":
		return errors.New("--prompt and --prompts: give prompts one way")
	case len(f.prompts) == 0 && f.promptsFile == "":
		return errors.New("no prompts: give --prompt TEXT (repeatable) or --prompts FILE")
	case f.batch <= 0:
		return fmt.Errorf("--batch %d: want > 0", f.batch)
	}
	outDT, err := parseFloatDType("--dtype", f.dtype, false)
	if err != nil {
		return err
	}
	wDT, err := parseFloatDType("--weights-dtype", f.weightsDType, true)
	if err != nil {
		return err
	}
	prompts := f.prompts
	if f.promptsFile != "" {
		if prompts, err = readTextPrompts(f.promptsFile); err != nil {
			return err
		}
	}
	for i, p := range prompts {
		if !utf8.ValidString(p) {
			return fmt.Errorf("--prompt %d is not valid UTF-8", i+1)
		}
	}
	mcfg, err := gemma.LoadConfig(f.weights)
	if err != nil {
		return err
	}
	ccfg, err := f.config(mcfg.HiddenSize)
	if err != nil {
		return err
	}
	for _, path := range []string{f.out, f.nullOut} {
		if path != "" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return fmt.Errorf("output folder for %s: %w", path, err)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stderr := cmd.ErrOrStderr()
	backend, err := newBackend()
	if err != nil {
		return err
	}
	defer backend.Finalize()
	t0 := time.Now()
	fmt.Fprintf(stderr, "loading %s …\n", f.weights)
	var started time.Time
	progress := func(done, total int) {
		el := time.Since(started).Seconds()
		rate := float64(done) / max(el, 1e-9)
		eta := time.Duration(float64(total-done) / max(rate, 1e-9) * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(stderr, "encoded %d/%d prompts, %.2f prompts/s, ETA %s\n", done, total, rate, eta)
	}
	enc, err := caption.Open(backend, f.weights, ccfg, caption.OpenOptions{
		Options:   caption.Options{BatchSize: f.batch, Progress: progress},
		DType:     wDT,
		NoSoftCap: f.noSoftCap,
	})
	if err != nil {
		return err
	}
	defer enc.Close()
	lay := enc.Layout()
	fmt.Fprintf(stderr, "loaded in %s; %d prompts, encoder length %d (instruction %d tokens), keeping %d positions\n",
		time.Since(t0).Round(time.Millisecond), len(prompts), lay.Length, lay.InstructionTokens, len(lay.Select))

	started = time.Now()
	emb, mask, err := enc.Encode(ctx, prompts)
	if err != nil {
		return err
	}
	if emb, err = gemma.ConvertTensor(emb, outDT); err != nil {
		return err
	}
	md := textMetadata(ccfg, lay, f)
	pj, _ := json.Marshal(prompts)
	md["sprint.prompts"] = string(pj)
	if err := safetensors.WriteFile(f.out, map[string]*tensors.Tensor{textEmbeddingKey: emb, textMaskKey: mask}, md); err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s %v %s, %s %v %s\n", f.out, textEmbeddingKey, emb.Shape().Dimensions, emb.DType(), textMaskKey, mask.Shape().Dimensions, mask.DType())

	if f.nullOut != "" {
		nemb, nmask, err := enc.EncodeNull(ctx)
		if err != nil {
			return err
		}
		if nemb, err = gemma.ConvertTensor(nemb, outDT); err != nil {
			return err
		}
		nmd := textMetadata(ccfg, lay, f)
		nmd["sprint.prompts"] = `[""]`
		if err := safetensors.WriteFile(f.nullOut, map[string]*tensors.Tensor{distill.NullEmbedding: nemb, nullMaskKey: nmask}, nmd); err != nil {
			return fmt.Errorf("--null-out %s: %w", f.nullOut, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s %v %s, %s %v %s\n", f.nullOut, distill.NullEmbedding, nemb.Shape().Dimensions, nemb.DType(), nullMaskKey, nmask.Shape().Dimensions, nmask.DType())
	}
	return nil
}

// textMetadata records how embeddings were made.
func textMetadata(c caption.Config, lay caption.Layout, f *textEncodeFlags) map[string]string {
	return map[string]string{
		"sprint.text_encoder":       c.TextEncoderName,
		"sprint.weights":            filepath.Base(filepath.Clean(f.weights)),
		"sprint.model_max_length":   strconv.Itoa(c.ModelMaxLength),
		"sprint.instruction_tokens": strconv.Itoa(lay.InstructionTokens),
		"sprint.instruction":        lay.Instruction,
		"sprint.soft_cap":           strconv.FormatBool(!f.noSoftCap),
		"sprint.weights_dtype":      f.weightsDType,
	}
}
