package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/caption"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/tensorconv"
	"github.com/sprint-distill/sprint/job"
	"github.com/sprint-distill/sprint/prepare"
	"github.com/sprint-distill/sprint/safetensors"
	"github.com/sprint-distill/sprint/vae"
)

// captionEncoders are the text encoders `sprint data encode --text-encoder NAME` can build; a text
// encoder package adds itself here (e.g. "gemma": load the model from a flag-given folder).
var captionEncoders = map[string]func() (prepare.CaptionEncoder, error){
	// shapes: the shapes dataset's fixed encoder with its default layout (16 tokens of 32 features).
	"shapes": func() (prepare.CaptionEncoder, error) {
		enc, err := data.DefaultShapesConfig().TextEncoder()
		if err != nil {
			return nil, err
		}
		return prepare.ShapesCaptions(enc), nil
	},
}

func newDataEncodeCmd() *cobra.Command {
	var (
		out, weights, textEncoder, embeddings, format, latentDType, textDType, prefix string
		resolution, batch, shardRows                                                  int
		pq                                                                            prepare.ParquetColumns
		tf                                                                            vaeTilingFlags
	)
	names := make([]string, 0, len(captionEncoders))
	for n := range captionEncoders {
		names = append(names, n)
	}
	sort.Strings(names)
	cmd := &cobra.Command{
		Use:   "encode DATASET --out DIR --vae DIR (--text-encoder NAME | --embeddings FILE)",
		Short: "Encode images with captions into training shards (DC-AE latents, caption embeddings)",
		Long: `encode turns a dataset of images with captions into training shards: DATASET is a folder of
images with .txt caption files beside them, a .jsonl file of {"path", "caption"[, "key"]}, or a
.parquet file with image bytes (binary or {bytes, path}) and caption columns.

Each image goes to SANA's nearest aspect-ratio bucket at --resolution (512 or 1024), is resized
to cover it (bicubic) and centre-cropped, and encoded by the DC-AE of --vae into latents times
its scaling_factor; captions are embedded by --text-encoder or looked up in --embeddings (a
safetensors file of embedding/<key> (L, D) and optional mask/<key> (L) tensors). Shards hold one
bucket each, --shard-rows rows at most.

The run is resumable: <prefix>-progress.json in --out records each finished shard; run the same
command again after an interruption (Ctrl-C stops after the current batch) and it continues
where it stopped, with shards byte-identical to an uninterrupted run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			var captions prepare.CaptionEncoder
			switch {
			case embeddings != "" && textEncoder != "":
				return errors.New("give --text-encoder or --embeddings, not both")
			case embeddings != "":
				p, err := prepare.OpenPrecomputed(embeddings)
				if err != nil {
					return err
				}
				defer p.Close()
				captions = p
			case isDirPath(textEncoder):
				// A Gemma-2 folder: SANA's caption handling (text: section defaults).
				backend, err := newBackend()
				if err != nil {
					return err
				}
				defer backend.Finalize()
				enc, err := caption.Open(backend, textEncoder, caption.DefaultConfig(), caption.OpenOptions{})
				if err != nil {
					return fmt.Errorf("--text-encoder %s: %w", textEncoder, err)
				}
				defer enc.Close()
				captions = enc
			case textEncoder != "":
				mk, ok := captionEncoders[textEncoder]
				if !ok {
					return fmt.Errorf("--text-encoder %q: this build knows %s (or give --embeddings FILE)", textEncoder, strings.Join(names, ", "))
				}
				var err error
				if captions, err = mk(); err != nil {
					return fmt.Errorf("--text-encoder %s: %w", textEncoder, err)
				}
			default:
				return fmt.Errorf("give --text-encoder (%s) or --embeddings FILE", strings.Join(names, ", "))
			}
			f, err := data.ParseFormat(format)
			if err != nil {
				return err
			}
			ldt, err := data.ParseDType(latentDType)
			if err != nil {
				return fmt.Errorf("--latent-dtype: %w", err)
			}
			tdt, err := data.ParseDType(textDType)
			if err != nil {
				return fmt.Errorf("--text-dtype: %w", err)
			}
			src, err := prepare.OpenSource(args[0], pq)
			if err != nil {
				return err
			}
			m, err := openVAE(weights, vae.EncoderPart)
			if err != nil {
				return fmt.Errorf("--vae: %w", err)
			}
			defer m.Finalize()
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := prepare.Run(ctx, src, prepare.Options{Out: out, Resolution: resolution, VAE: m, Tiling: tf.tiling(cmd, 1),
				Captions: captions, BatchSize: batch, ShardRows: shardRows, Format: f, LatentDType: ldt, TextDType: tdt,
				Prefix: prefix, Log: cmd.ErrOrStderr()})
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("%w; run the same command again to resume", err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d images in %d shards in %s (%d resumed, %d rows written now, %.0fs); check with `sprint data verify %s`\n",
				rep.Items, rep.Shards, out, rep.Resumed, rep.RowsWritten, rep.Elapsed.Seconds(), out)
			return writeNullCaption(ctx, cmd, captions, out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "output directory of the shards")
	fl.StringVar(&weights, "vae", "", "DC-AE diffusers folder, e.g. mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers downloaded locally")
	fl.StringVar(&textEncoder, "text-encoder", "", "caption encoder: a Gemma-2 folder (google/gemma-2-2b-it, SANA's caption handling), or "+strings.Join(names, ", "))
	fl.StringVar(&embeddings, "embeddings", "", "precomputed caption embeddings (safetensors: embedding/<key>, mask/<key>)")
	fl.IntVar(&resolution, "resolution", 1024, "SANA bucket table: 512 or 1024")
	fl.IntVar(&batch, "batch", 4, "images per encoder call")
	fl.IntVar(&shardRows, "shard-rows", 1000, "rows per shard")
	fl.StringVar(&format, "format", "parquet", "shard format: parquet or arrow")
	fl.StringVar(&latentDType, "latent-dtype", "float32", "latent storage dtype: float32, float16 or bfloat16")
	fl.StringVar(&textDType, "text-dtype", "float32", "text embedding storage dtype: float32, float16 or bfloat16")
	fl.StringVar(&prefix, "prefix", "shard", "shard file name prefix")
	fl.StringVar(&pq.Image, "image-column", "", "Parquet image column (default image)")
	fl.StringVar(&pq.Caption, "caption-column", "", "Parquet caption column (default caption, else text)")
	fl.StringVar(&pq.Key, "key-column", "", "Parquet key column (default: row-<index>)")
	tf.add(cmd, 0, 2, 1, "latent pixels (encoder tiling changes the latents slightly; 0 = whole images, as SANA)")
	return cmd
}

// cmdContext is the command's context, or a background one.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// writeNullCaption writes the null caption (the encoder's embedding of "") beside the shards as
// job.NullEmbeddingFile, which classifier-free guidance and caption dropout read. Gemma encodes
// it by SANA's null rule (no instruction, all positions kept); precomputed embeddings have no
// encoder, so the user is told to make it.
func writeNullCaption(ctx context.Context, cmd *cobra.Command, captions prepare.CaptionEncoder, out string) error {
	path := filepath.Join(out, job.NullEmbeddingFile)
	var emb *tensors.Tensor
	switch enc := captions.(type) {
	case *caption.Encoder:
		e, _, err := enc.EncodeNull(ctx)
		if err != nil {
			return fmt.Errorf("the null caption: %w", err)
		}
		emb = e
	case *prepare.Precomputed:
		fmt.Fprintf(cmd.ErrOrStderr(), "note: precomputed captions: write the null caption (tensor %q, (L, D)) to %s yourself, e.g. with sprint text encode --null-out\n",
			distill.NullEmbedding, path)
		return nil
	default:
		e, _, err := captions.Encode(ctx, []string{""})
		if err != nil {
			return fmt.Errorf("the null caption: %w", err)
		}
		d := e.Shape().Dimensions
		v, err := tensorconv.Float32s(e)
		if err != nil {
			return err
		}
		emb = tensors.FromFlatDataAndDimensions(v, d[1], d[2])
	}
	if err := safetensors.WriteFile(path, map[string]*tensors.Tensor{distill.NullEmbedding: emb}, nil); err != nil {
		return fmt.Errorf("writing the null caption: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote the null caption to %s\n", path)
	return nil
}
