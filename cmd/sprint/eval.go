package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/eval"
	"github.com/sprint-distill/sprint/eval/clip"
	"github.com/sprint-distill/sprint/eval/fid"
	"github.com/sprint-distill/sprint/eval/geneval"
	"github.com/sprint-distill/sprint/eval/mjhq"
	"github.com/sprint-distill/sprint/generate"
)

func init() { register(newEvalCmd) }

// evalFlags are shared by the eval verbs: a config whose eval: section is read, --set overrides, and
// flags for the keys used most.
type evalFlags struct {
	configPath string
	sets       []string
	inception  string
	clipW      string
	tokenizer  string
	clipModel  string
	batchSize  int
	workers    int
	imageSize  int
	quiet      bool
}

func (f *evalFlags) add(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVarP(&f.configPath, "config", "c", "", "YAML config whose eval: section to use (e.g. configs/eval_mjhq30k.yaml)")
	fl.StringArrayVar(&f.sets, "set", nil, "override a key: --set eval.batch_size=32 (repeatable)")
	fl.StringVar(&f.inception, "inception", "", "FID Inception safetensors (eval.inception_weights)")
	fl.StringVar(&f.clipW, "clip", "", "CLIP model.safetensors (eval.clip_weights)")
	fl.StringVar(&f.tokenizer, "clip-tokenizer", "", "CLIP tokenizer folder or file (eval.clip_tokenizer)")
	fl.StringVar(&f.clipModel, "clip-model", "", "CLIP variant: ViT-L/14 or ViT-B/32 (eval.clip_model)")
	fl.IntVar(&f.batchSize, "batch-size", 0, "images per network call (eval.batch_size)")
	fl.IntVar(&f.workers, "workers", 0, "image-decoding goroutines (eval.workers)")
	fl.IntVar(&f.imageSize, "image-size", -1, "FID preprocessing; -1 keeps eval.image_size (1024 unless configured). N>0 is SANA's MJHQ-30K protocol: "+
		"torchvision Resize(N)+CenterCrop(N) before the Inception's own bilinear resize to 299; 0 is plain pytorch-fid "+
		"(images go to the 299 resize as they are)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines")
}

// load resolves the config and its eval section: defaults, the config file, SPRINT_EVAL_*
// variables, --set, then flags.
func (f *evalFlags) load() (*config.Config, eval.Config, error) {
	cfg, err := config.Load(f.configPath, f.sets)
	if err != nil {
		return nil, eval.Config{}, err
	}
	c := cfg.Eval
	if f.inception != "" {
		c.InceptionWeights = f.inception
	}
	if f.clipW != "" {
		c.CLIPWeights = f.clipW
	}
	if f.tokenizer != "" {
		c.CLIPTokenizer = f.tokenizer
	}
	if f.clipModel != "" {
		c.CLIPModel = f.clipModel
	}
	if f.batchSize > 0 {
		c.BatchSize = f.batchSize
	}
	if f.workers > 0 {
		c.Workers = f.workers
	}
	if f.imageSize >= 0 {
		c.ImageSize = f.imageSize
	}
	if err := c.Validate(); err != nil {
		if f.configPath != "" {
			return nil, c, fmt.Errorf("config %s: %w", f.configPath, err)
		}
		return nil, c, err
	}
	cfg.Eval = c
	return cfg, c, nil
}

func (f *evalFlags) progress(cmd *cobra.Command) io.Writer {
	if f.quiet {
		return nil
	}
	return cmd.ErrOrStderr()
}

// evalSession holds what the verbs open, on first use: the backend and the models they need,
// and the whole resolved config (generation reads its data and text sections).
type evalSession struct {
	cfg     *config.Config
	backend compute.Backend
	closers []func()
}

func (s *evalSession) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// open starts the backend the first time a model needs it.
func (s *evalSession) open() (compute.Backend, error) {
	if s.backend == nil {
		b, err := newBackend()
		if err != nil {
			return nil, err
		}
		s.backend = b
		s.closers = append(s.closers, b.Finalize)
	}
	return s.backend, nil
}

// run is the frame of every eval verb: the resolved eval section, a context that Ctrl-C
// cancels (caches are flushed so the job resumes), and a session closed on return.
func (f *evalFlags) run(cmd *cobra.Command, body func(ctx context.Context, c eval.Config, s *evalSession) error) error {
	cfg, c, err := f.load()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer cancel()
	s := &evalSession{cfg: cfg}
	defer s.close()
	return body(ctx, c, s)
}

// openModel builds a network from its weights on the session's backend (started on first use)
// and closes it with the session.
func openModel[W any, M interface{ Close() }](s *evalSession, w W, build func(compute.Backend, W) (M, error)) (M, error) {
	var none M
	b, err := s.open()
	if err != nil {
		return none, err
	}
	m, err := build(b, w)
	if err != nil {
		return none, err
	}
	s.closers = append(s.closers, m.Close)
	return m, nil
}

func (s *evalSession) inception(c eval.Config) (*fid.Extractor, error) {
	if c.InceptionWeights == "" {
		return nil, fmt.Errorf("no FID Inception weights: set eval.inception_weights or --inception. %s", fid.WeightsHelp)
	}
	w, err := fid.LoadWeights(c.InceptionWeights)
	if err != nil {
		return nil, err
	}
	m, err := openModel(s, w, fid.NewInception)
	if err != nil {
		return nil, err
	}
	return &fid.Extractor{Model: m, ImageSize: c.ImageSize}, nil
}

func (s *evalSession) clipScorer(c eval.Config) (*clip.Scorer, error) {
	if c.CLIPWeights == "" {
		return nil, fmt.Errorf("no CLIP weights: set eval.clip_weights or --clip. %s", clip.WeightsHelp)
	}
	w, err := clip.LoadWeights(c.CLIPWeights, c.CLIPModel)
	if err != nil {
		return nil, err
	}
	tokPath := c.CLIPTokenizer
	if tokPath == "" {
		tokPath = filepath.Dir(c.CLIPWeights)
	}
	tok, err := clip.LoadTokenizer(tokPath)
	if err != nil {
		return nil, err
	}
	m, err := openModel(s, w, clip.NewModel)
	if err != nil {
		return nil, err
	}
	return &clip.Scorer{Model: m, Tokenizer: tok}, nil
}

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate images: FID, CLIP score, GenEval and the MJHQ-30K job",
		Long: `Metrics as the SANA-Sprint paper measures them (pytorch-fid FID, CLIP score with ViT-L/14,
GenEval's rules), from local weight files only.

Weights: ` + fid.WeightsHelp + `

` + clip.WeightsHelp + `

` + clip.TokenizerHelp,
	}
	f.add(cmd)
	cmd.AddCommand(newEvalFIDCmd(&f), newEvalFIDStatsCmd(&f), newEvalCLIPScoreCmd(&f),
		newEvalGenEvalCmd(&f), newEvalGenEvalLayoutCmd(&f), newEvalMJHQCmd(&f))
	return cmd
}

func newEvalFIDCmd(f *evalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "fid A B",
		Short: "FID between two image folders or .npz statistics (pytorch-fid protocol)",
		Long: `FID between A and B, each an image folder or a .npz of pytorch-fid statistics (mu, sigma).

Image folders are preprocessed according to --image-size (eval.image_size):
  1024 (default)  SANA's MJHQ-30K protocol (tools/metrics/pytorch-fid/compute_fid.py with
                  img_size 1024): torchvision Resize(1024) of the shorter side (PIL bilinear,
                  antialiased) and CenterCrop(1024), then the Inception's own input handling.
                  For 1024x1024 images the resize and crop change nothing.
  N > 0           the same with img_size N (SANA's shell script defaults to 512).
  0               plain pytorch-fid (python -m pytorch_fid): images go to the Inception as they are.
The Inception's own input handling, in every case, is pytorch-fid's: pixel/255, bilinear resize to
299x299 without antialias (align_corners=False), then 2x-1.

A .npz is used as it is: it must have been computed with the same preprocessing.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				var ext *fid.Extractor
				for _, a := range args {
					if !strings.HasSuffix(strings.ToLower(a), ".npz") && ext == nil {
						var err error
						if ext, err = s.inception(c); err != nil {
							return err
						}
					}
				}
				opts := fid.RunOptions{BatchSize: c.BatchSize, Workers: c.Workers, Progress: f.progress(cmd)}
				a, err := fid.StatsOf(ctx, ext, args[0], opts)
				if err != nil {
					return err
				}
				b, err := fid.StatsOf(ctx, ext, args[1], opts)
				if err != nil {
					return err
				}
				v, err := fid.FrechetDistance(a, b)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "FID: %.6f\n", v)
				return nil
			})
		},
	}
}

func newEvalFIDStatsCmd(f *evalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "fid-stats DIR OUT.npz",
		Short: "Write pytorch-fid statistics (mu, sigma) of an image folder",
		Long: `Writes the pytorch-fid statistics (mu, sigma; float64) of the images in DIR to OUT.npz.

The preprocessing follows --image-size (eval.image_size): 1024, the default, is SANA's MJHQ-30K
protocol (torchvision Resize(1024)+CenterCrop(1024) before the Inception's bilinear resize to 299,
the identity for 1024x1024 images); 0 is plain pytorch-fid (images go to the 299 resize as they are).
The .npz does not record which was used: compare it only with statistics made the same way.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				ext, err := s.inception(c)
				if err != nil {
					return err
				}
				st, err := fid.StatsOf(ctx, ext, args[0], fid.RunOptions{BatchSize: c.BatchSize, Workers: c.Workers, Progress: f.progress(cmd)})
				if err != nil {
					return err
				}
				if err := st.Save(args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d images, %d dims)\n", args[1], st.N, st.Dim)
				return nil
			})
		},
	}
}

// readPrompts reads image–prompt pairs for a folder: meta_data.json (key -> {prompt}) pairs with
// <key>.jpg/.png; a .jsonl gives {"file": ..., "prompt": ...} rows relative to the folder.
func readPrompts(dir, path string) (files, prompts []string, err error) {
	if strings.HasSuffix(path, ".jsonl") {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		for n, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var row struct {
				File   string `json:"file"`
				Prompt string `json:"prompt"`
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil || row.File == "" {
				return nil, nil, fmt.Errorf("%s line %d: want {\"file\": ..., \"prompt\": ...}", path, n+1)
			}
			files = append(files, filepath.Join(dir, row.File))
			prompts = append(prompts, row.Prompt)
		}
		return files, prompts, nil
	}
	entries, err := mjhq.ReadMetadata(path)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		p, err := mjhq.GeneratedPath(dir, e)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, p)
		prompts = append(prompts, e.Prompt)
	}
	return files, prompts, nil
}

func newEvalCLIPScoreCmd(f *evalFlags) *cobra.Command {
	var promptsPath string
	cmd := &cobra.Command{
		Use:   "clip-score DIR --prompts meta_data.json|pairs.jsonl",
		Short: "CLIP score of images against their prompts (SANA's and torchmetrics' variants)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				if promptsPath == "" {
					return fmt.Errorf("--prompts is required (MJHQ-style meta_data.json, or .jsonl of {\"file\", \"prompt\"})")
				}
				files, prompts, err := readPrompts(args[0], promptsPath)
				if err != nil {
					return err
				}
				scorer, err := s.clipScorer(c)
				if err != nil {
					return err
				}
				acc, err := scorer.ScoreFiles(ctx, files, prompts, clip.RunOptions{BatchSize: c.BatchSize, Workers: c.Workers, Progress: f.progress(cmd)})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "images: %d\nCLIP score (SANA, %.0f x mean cosine): %.4f\nCLIP score (torchmetrics): %.4f\n",
					acc.N, scorer.LogitScale(), acc.SANA(scorer.LogitScale()), acc.TorchMetrics())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&promptsPath, "prompts", "", "meta_data.json (key -> {prompt}, images <key>.jpg) or .jsonl of {\"file\", \"prompt\"}")
	return cmd
}

func newEvalGenEvalCmd(f *evalFlags) *cobra.Command {
	var detections, out string
	cmd := &cobra.Command{
		Use:   "geneval DIR",
		Short: "Score a GenEval image layout with detections from an external detector",
		Long: `Scores DIR (GenEval's layout: <00000>/metadata.jsonl and samples/<00000>.png) with GenEval's
rules. Detections come from a JSONL file (eval.geneval_detections or --detections), one line per image:
{"filename": "00000/samples/00000.png", "detections": {"bench": [{"box": [x1,y1,x2,y2], "score": 0.9,
"mask": {"size": [h, w], "counts": [...]}}]}} (mask optional, COCO uncompressed RLE). Colour clauses
use CLIP zero-shot (eval.clip_weights). Writes results.jsonl and prints the task-averaged summary.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				if detections == "" {
					detections = c.GenEvalDetections
				}
				if detections == "" {
					return fmt.Errorf("no detections file: set eval.geneval_detections or --detections")
				}
				samples, err := geneval.ScanLayout(args[0])
				if err != nil {
					return err
				}
				if len(samples) == 0 {
					return fmt.Errorf("%s holds no GenEval samples (<00000>/samples/<00000>.png)", args[0])
				}
				det, err := geneval.LoadJSONLDetections(detections)
				if err != nil {
					return err
				}
				ev := &geneval.Evaluator{Detector: det, Options: geneval.Options{Threshold: c.GenEvalThreshold,
					CountingThreshold: c.GenEvalCountingThreshold, MaxObjects: c.GenEvalMaxObjects, MaxOverlap: c.GenEvalMaxOverlap,
					PositionThreshold: c.GenEvalPositionThreshold}}
				needsColor := false
				for _, sample := range samples {
					for _, cl := range sample.Metadata.Include {
						needsColor = needsColor || cl.Color != ""
					}
				}
				if needsColor {
					scorer, err := s.clipScorer(c)
					if err != nil {
						return fmt.Errorf("colour clauses need CLIP: %w", err)
					}
					ev.Colors = geneval.NewCLIPColors(scorer)
				}
				results, err := ev.Run(ctx, samples, f.progress(cmd))
				if err != nil {
					return err
				}
				if out == "" {
					out = filepath.Join(args[0], "results.jsonl")
				}
				if err := geneval.WriteResults(out, results); err != nil {
					return err
				}
				sum := geneval.Summarize(results)
				fmt.Fprint(cmd.OutOrStdout(), sum.Markdown())
				fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s\n", out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&detections, "detections", "", "detections JSONL (eval.geneval_detections)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "results.jsonl path (default DIR/results.jsonl)")
	return cmd
}

func newEvalGenEvalLayoutCmd(f *evalFlags) *cobra.Command {
	var metadata string
	var gen generateFlags
	var perPrompt int
	cmd := &cobra.Command{
		Use:   "geneval-layout DIR",
		Short: "Create GenEval's folder layout (one folder per prompt with metadata.jsonl and samples/)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				if metadata == "" {
					metadata = c.GenEvalMetadata
				}
				if metadata == "" {
					return fmt.Errorf("no metadata: set eval.geneval_metadata or --metadata (GenEval's prompts/evaluation_metadata.jsonl)")
				}
				prompts, err := geneval.ReadMetadata(metadata)
				if err != nil {
					return err
				}
				if err := geneval.WriteLayout(args[0], prompts); err != nil {
					return err
				}
				if gen.on {
					if perPrompt < 1 {
						return fmt.Errorf("--images-per-prompt %d must be >= 1", perPrompt)
					}
					if err := gen.run(ctx, cmd, s.cfg, generate.GenEvalItems(args[0], prompts, perPrompt)); err != nil {
						return err
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %d prompt folders under %s; put images in <00000>/samples/<00000>.png\n", len(prompts), args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&metadata, "metadata", "", "evaluation_metadata.jsonl (eval.geneval_metadata)")
	cmd.Flags().IntVar(&perPrompt, "images-per-prompt", generate.GenEvalImagesPerPrompt, "images per prompt with --generate (GenEval uses 4)")
	gen.add(cmd, "the images of every prompt (samples/<0000j>.png)")
	return cmd
}

func newEvalMJHQCmd(f *evalFlags) *cobra.Command {
	var generated, root string
	var gen generateFlags
	cmd := &cobra.Command{
		Use:   "mjhq",
		Short: "MJHQ-30K: overall and per-category FID and CLIP score of generated images (resumable)",
		Long: `Reads <eval.mjhq_root>/meta_data.json, takes the first eval.sample_nums keys in file order
(restricted to eval.categories when set), and compares <eval.generated_dir>/<key>.jpg with the
reference <category>/<key>.jpg: FID (pytorch-fid protocol) and CLIP score (ViT-L/14), overall and
per category. FID images are preprocessed as SANA's MJHQ-30K script does with eval.image_size
(--image-size; 1024 by default): torchvision Resize+CenterCrop to that size, then pytorch-fid's
bilinear resize to 299; 0 skips the Resize+CenterCrop (plain pytorch-fid). Reference statistics and per-image features are cached in eval.cache_dir, so an
interrupted run (Ctrl-C included) resumes. Reports go to eval.output_dir as mjhq_report.json/.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c eval.Config, s *evalSession) error {
				if generated != "" {
					c.GeneratedDir = generated
				}
				if root != "" {
					c.MJHQRoot = root
				}
				if c.MJHQRoot == "" || c.GeneratedDir == "" {
					return fmt.Errorf("eval.mjhq_root and eval.generated_dir (or --root, --generated) are required")
				}
				entries, err := mjhq.ReadMetadata(filepath.Join(c.MJHQRoot, "meta_data.json"))
				if err != nil {
					return err
				}
				entries = mjhq.Select(entries, c.SampleNums, c.Categories)
				if gen.on {
					if err := gen.run(ctx, cmd, s.cfg, generate.MJHQItems(c.GeneratedDir, entries)); err != nil {
						return err
					}
				}
				ext, err := s.inception(c)
				if err != nil {
					return err
				}
				job := &mjhq.Job{Entries: entries, ReferenceDir: mjhq.ReferenceDir(c.MJHQRoot, c.ReferenceDir),
					GeneratedDir: c.GeneratedDir, CacheDir: c.CacheDir, OutputDir: c.OutputDir,
					FID: ext, FIDName: fmt.Sprintf("pt_inception-%dpx", c.ImageSize),
					BatchSize: c.BatchSize, Workers: c.Workers, Progress: f.progress(cmd)}
				if c.CLIPWeights != "" {
					scorer, err := s.clipScorer(c)
					if err != nil {
						return err
					}
					job.CLIP, job.CLIPName = scorer, c.CLIPModel
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "eval.clip_weights is not set: skipping the CLIP score")
				}
				rep, err := job.Run(ctx)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
				fmt.Fprintf(cmd.OutOrStdout(), "\nreports in %s\n", c.OutputDir)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&generated, "generated", "", "folder of generated <key>.jpg (eval.generated_dir)")
	cmd.Flags().StringVar(&root, "root", "", "MJHQ-30K folder with meta_data.json (eval.mjhq_root)")
	gen.add(cmd, "the selected prompts' images into eval.generated_dir as <key>.png")
	return cmd
}
