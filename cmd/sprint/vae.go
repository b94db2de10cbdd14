package main

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/grid"
	"github.com/sprint-distill/sprint/prepare"
	"github.com/sprint-distill/sprint/safetensors"
	"github.com/sprint-distill/sprint/vae"
)

func init() {
	registerGroup("vae", "The DC-AE autoencoder: parameter counts, encoding, decoding, round trips",
		`vae runs SANA's DC-AE autoencoder (diffusers' AutoencoderDC) from a local diffusers folder
(config.json and diffusion_pytorch_model.safetensors, e.g. mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers
downloaded beforehand; nothing is downloaded).

  info       config, parameter counts per part and stage, and a strict check of the weights
  encode     images to latents in SANA's space (DC-AE latents times scaling_factor), one key per image
  decode     latents (SANA's space unless --unscaled) to PNG images
  roundtrip  encode and decode an image, print the PSNR and write the reconstruction

Large images need much memory on CPU (decoding 1024x1024 untiled needs about 11 GiB): decode
tiles by default above 512 pixels (--tile). Unless GOMEMLIMIT is set, these verbs set the Go
heap's soft limit to half the machine's memory, which keeps the process near its live set.`,
		newVAEInfoCmd, newVAEEncodeCmd, newVAEDecodeCmd, newVAERoundtripCmd)
}

// vaeTilingFlags are the tiling flags of encode, decode and roundtrip.
type vaeTilingFlags struct{ tile, overlap, blend int }

func (f *vaeTilingFlags) add(cmd *cobra.Command, tile, overlap, blend int, blendUnit string) {
	cmd.Flags().IntVar(&f.tile, "tile", tile, "tile core side in latent pixels (0: no tiling)")
	cmd.Flags().IntVar(&f.overlap, "overlap", overlap, "latent pixels of context around each tile core")
	cmd.Flags().IntVar(&f.blend, "blend", blend, "cross-fade width at tile seams, in "+blendUnit)
}

// tiling returns the tiling of the flags; unless --blend was given, the blend is reduced to what
// the overlap allows at compression f (f = 1 for the encoder, whose blend is in latent pixels).
func (f vaeTilingFlags) tiling(cmd *cobra.Command, comp int) vae.Tiling {
	t := vae.Tiling{Tile: f.tile, Overlap: f.overlap, Blend: f.blend}
	if !cmd.Flags().Changed("blend") {
		t = t.ForCompression(comp)
	}
	return t
}

func openVAE(dir string, parts vae.Parts) (*vae.Model, error) {
	limitMemory(0.5)
	if dir == "" {
		return nil, errors.New("--weights DIR is required: a DC-AE diffusers folder, e.g. mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers downloaded to a local folder")
	}
	backend, err := newBackend()
	if err != nil {
		return nil, err
	}
	return vae.Open(backend, dir, parts)
}

func newVAEInfoCmd() *cobra.Command {
	var weights, cfgPath, preset string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Print a DC-AE's config and parameter counts; check its weights",
		Long: `info describes a DC-AE from --weights DIR (its config.json; the weights file is then checked
strictly against the config, headers only), from --config FILE (a config.json alone), or from
--preset NAME (a released config). Parameter counts come from the shapes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg vae.Config
			var err error
			switch {
			case weights != "":
				cfg, err = vae.ReadConfig(weights)
			case cfgPath != "":
				cfg, err = vae.ReadConfig(cfgPath)
			case preset != "":
				cfg, err = vae.Preset(preset)
			default:
				return fmt.Errorf("give --weights DIR, --config FILE or --preset NAME (one of %s)", strings.Join(vae.PresetNames(), ", "))
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			writeVAEInfo(w, cfg)
			if weights != "" {
				count, err := vae.CheckWeights(weights, cfg)
				if err != nil {
					return err
				}
				var parts []string
				for dt, n := range count {
					parts = append(parts, fmt.Sprintf("%d %s", n, dt))
				}
				sort.Strings(parts)
				fmt.Fprintf(w, "weights ok: %s (%s), every tensor of the config with its shape\n", weights, strings.Join(parts, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "DC-AE diffusers folder (config.json and weights)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "a DC-AE config.json alone")
	cmd.Flags().StringVar(&preset, "preset", "", "a released config: "+strings.Join(vae.PresetNames(), ", "))
	return cmd
}

func writeVAEInfo(w io.Writer, cfg vae.Config) {
	f := cfg.SpatialCompression()
	fmt.Fprintf(w, "DC-AE f%dc%d: %d -> %d channels, scaling_factor %g, attention head dim %d\n", f, cfg.LatentChannels,
		cfg.InChannels, cfg.LatentChannels, cfg.ScalingFactor, cfg.AttentionHeadDim)
	fmt.Fprintf(w, "downsample %s, upsample %s, encoder out shortcut %v, decoder in shortcut %v, final activation %s\n",
		cfg.DownsampleBlockType, cfg.UpsampleBlockType, cfg.EncoderOutShortcut, cfg.DecoderInShortcut, cfg.DecoderConvActFn)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tgroup\tblocks\tchannels\tscale\tparams\tbuffers\t")
	stages := map[string][]vae.Stage{"encoder": cfg.EncoderStages(), "decoder": cfg.DecoderStages()}
	for _, c := range vae.Counts(cfg) {
		blocks, ch, scale := "", "", ""
		var i int
		if _, err := fmt.Sscanf(c.Group, "stage %d", &i); err == nil {
			s := stages[c.Part][i]
			blocks = fmt.Sprintf("%d x %s", s.Layers, s.BlockType)
			if s.BlockType == vae.EfficientViTBlock && len(s.Multiscales) > 0 {
				blocks += fmt.Sprintf(" %v", s.Multiscales)
			}
			if c.Part == "decoder" {
				blocks += " " + s.Norm + "/" + s.Act
			}
			ch = fmt.Sprint(s.Channels)
			scale = fmt.Sprintf("1/%d", 1<<i)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Part, c.Group, blocks, ch, scale, thousands(c.Params), thousands(c.Buffers))
	}
	_ = tw.Flush()
}

// loadImageFor reads an image file for the encoder: with bucket 512 or 1024 it goes through
// SANA's resize and centre crop to the nearest bucket; otherwise its sides must be multiples
// of f.
func loadImageFor(path string, bucket, f int) (*imaging.RGB8, error) {
	m, err := imaging.Load(path)
	if err != nil {
		return nil, err
	}
	if bucket != 0 {
		bs, err := prepare.Buckets(bucket)
		if err != nil {
			return nil, fmt.Errorf("--bucket: %w", err)
		}
		i, err := prepare.NearestBucket(bs, m.Width, m.Height)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if m, err = prepare.ResizeCrop(m, bs[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if m.Width%f != 0 || m.Height%f != 0 {
		return nil, fmt.Errorf("image %s is %dx%d: sides must be multiples of %d (or pass --bucket 512|1024 to resize and crop as SANA does)",
			path, m.Width, m.Height, f)
	}
	return m, nil
}

// imageTensor converts one RGB image to a (1, 3, H, W) tensor in [−1, 1].
func imageTensor(m *imaging.RGB8) (*tensors.Tensor, error) {
	return vae.FromImages([]image.Image{m.Image()})
}

func newVAEEncodeCmd() *cobra.Command {
	var weights, out string
	var bucket int
	var unscaled bool
	var tf vaeTilingFlags
	cmd := &cobra.Command{
		Use:   "encode IMAGE... --weights DIR --out FILE.safetensors",
		Short: "Encode images to latents (SANA's space: times scaling_factor)",
		Long: `encode writes one latent tensor (C, h, w) per image to a safetensors file, keyed by the image's
file name without extension. Latents are scaled by the config's scaling_factor (the space SANA
models are trained in) unless --unscaled. Image sides must be multiples of the compression
factor, or --bucket 512|1024 resizes and centre-crops them to SANA's nearest aspect-ratio bucket.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out FILE.safetensors is required")
			}
			keys := map[string]string{}
			for _, a := range args {
				k := strings.TrimSuffix(filepath.Base(a), filepath.Ext(a))
				if prev, dup := keys[k]; dup {
					return fmt.Errorf("images %s and %s would both be stored under key %q", prev, a, k)
				}
				keys[k] = a
			}
			m, err := openVAE(weights, vae.EncoderPart)
			if err != nil {
				return err
			}
			defer m.Finalize()
			cfg := m.Config()
			named := map[string]*tensors.Tensor{}
			for _, a := range args {
				img, err := loadImageFor(a, bucket, cfg.SpatialCompression())
				if err != nil {
					return err
				}
				x, err := imageTensor(img)
				if err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				start := time.Now()
				z, err := m.EncodeTiled(x, tf.tiling(cmd, 1))
				if err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				if !unscaled {
					if z, err = scaleTensor(z, cfg.ScalingFactor); err != nil {
						return err
					}
				}
				d := z.Shape().Dimensions
				named[strings.TrimSuffix(filepath.Base(a), filepath.Ext(a))] = tensors.FromFlatDataAndDimensions(must(tensors.CopyFlatData[float32](z)), d[1], d[2], d[3])
				fmt.Fprintf(cmd.ErrOrStderr(), "encoded %s (%dx%d) to %v in %.1fs\n", a, img.Width, img.Height, d[1:], time.Since(start).Seconds())
			}
			cfgJSON, _ := cfg.JSON()
			md := map[string]string{"scaled": fmt.Sprint(!unscaled), "scaling_factor": fmt.Sprint(cfg.ScalingFactor),
				"dcae_config": string(cfgJSON)}
			if err := safetensors.WriteFile(out, named, md); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d latents to %s\n", len(named), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "DC-AE diffusers folder")
	cmd.Flags().StringVar(&out, "out", "", "output .safetensors file")
	cmd.Flags().IntVar(&bucket, "bucket", 0, "resize and centre-crop to SANA's nearest bucket of this resolution (512 or 1024)")
	cmd.Flags().BoolVar(&unscaled, "unscaled", false, "store raw DC-AE latents (no scaling_factor)")
	tf.add(cmd, 0, 2, 1, "latent pixels")
	return cmd
}

// scaleTensor multiplies a float32 tensor by s in float32.
func scaleTensor(t *tensors.Tensor, s float64) (*tensors.Tensor, error) {
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	for i := range v {
		v[i] *= float32(s)
	}
	return tensors.FromFlatDataAndDimensions(v, t.Shape().Dimensions...), nil
}

// must returns v, panicking on err: for conversions of tensors this program built itself.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newVAEDecodeCmd() *cobra.Command {
	var weights, out string
	var unscaled bool
	var batch int
	var tf vaeTilingFlags
	cmd := &cobra.Command{
		Use:   "decode LATENTS.safetensors --weights DIR --out DIR|FILE.png",
		Short: "Decode latents to PNG images",
		Long: `decode reads every tensor of a safetensors file, each (C, h, w) or (B, C, h, w) latents in SANA's
space (divided by scaling_factor before decoding) unless --unscaled, and writes PNG images: into
the directory --out as <key>.png (<key>-<i>.png for batches), or to --out itself when it ends in
.png and the file holds a single image. Pixels are SANA's: round(255·clamp((x+1)/2)).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out DIR or FILE.png is required")
			}
			lat, _, err := safetensors.ReadFile(args[0])
			if err != nil {
				return err
			}
			if len(lat) == 0 {
				return fmt.Errorf("%s holds no tensors", args[0])
			}
			m, err := openVAE(weights, vae.DecoderPart)
			if err != nil {
				return err
			}
			defer m.Finalize()
			c := m.Config().LatentChannels
			keys := make([]string, 0, len(lat))
			total := 0
			for k, t := range lat {
				d := t.Shape().Dimensions
				switch {
				case len(d) == 3 && d[0] == c:
					total++
				case len(d) == 4 && d[1] == c:
					total += d[0]
				default:
					return fmt.Errorf("%s: tensor %q has shape %v, want (%d, h, w) or (B, %d, h, w) latents", args[0], k, d, c, c)
				}
				keys = append(keys, k)
			}
			sort.Strings(keys)
			single := strings.EqualFold(filepath.Ext(out), ".png")
			if single && total != 1 {
				return fmt.Errorf("--out %s is one PNG, but %s holds %d images: give a directory", out, args[0], total)
			}
			dec := &vae.ImageDecoder{Model: m, Batch: batch, Tiling: tf.tiling(cmd, m.Config().SpatialCompression())}
			if tf.tile == 0 {
				dec.Tiling.Tile = -1
			}
			scale := m.Config().ScalingFactor
			for _, k := range keys {
				t, err := vae.Float32(lat[k])
				if err != nil {
					return fmt.Errorf("%s: tensor %q: %w", args[0], k, err)
				}
				d := t.Shape().Dimensions
				if len(d) == 3 {
					t = tensors.FromFlatDataAndDimensions(must(tensors.CopyFlatData[float32](t)), 1, d[0], d[1], d[2])
				}
				if unscaled {
					if t, err = scaleTensor(t, scale); err != nil {
						return err
					}
				}
				start := time.Now()
				imgs, err := dec.Decode(t)
				if err != nil {
					return fmt.Errorf("%s: tensor %q: %w", args[0], k, err)
				}
				for i, img := range imgs {
					path := out
					if !single {
						name := k
						if len(d) == 4 {
							name = fmt.Sprintf("%s-%d", k, i)
						}
						path = filepath.Join(out, filepath.FromSlash(name)+".png")
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							return err
						}
					}
					if err := grid.WritePNG(path, img); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "decoded %q to %s (%dx%d) in %.1fs\n", k, path, img.Bounds().Dx(), img.Bounds().Dy(),
						time.Since(start).Seconds())
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "DC-AE diffusers folder")
	cmd.Flags().StringVar(&out, "out", "", "output directory, or a .png file for a single image")
	cmd.Flags().BoolVar(&unscaled, "unscaled", false, "the latents are raw DC-AE latents (not times scaling_factor)")
	cmd.Flags().IntVar(&batch, "batch", 1, "latents decoded per call")
	tf.add(cmd, vae.DefaultDecodeTiling.Tile, vae.DefaultDecodeTiling.Overlap, vae.DefaultDecodeTiling.Blend, "image pixels")
	return cmd
}

func newVAERoundtripCmd() *cobra.Command {
	var weights, out string
	var bucket int
	var tf vaeTilingFlags
	cmd := &cobra.Command{
		Use:   "roundtrip IMAGE --weights DIR",
		Short: "Encode and decode an image; print the PSNR and write the reconstruction",
		Long: `roundtrip encodes IMAGE (sides multiples of the compression factor, or --bucket 512|1024 to
resize and crop as SANA does), decodes the latents, prints the PSNR of the 8-bit
reconstruction against the (cropped) input, and writes the reconstruction (--out, default
<image>.recon.png in the current directory).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := openVAE(weights, vae.BothParts)
			if err != nil {
				return err
			}
			defer m.Finalize()
			img, err := loadImageFor(args[0], bucket, m.Config().SpatialCompression())
			if err != nil {
				return err
			}
			x, err := imageTensor(img)
			if err != nil {
				return err
			}
			start := time.Now()
			z, err := m.Encode(x)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			enc := time.Since(start)
			y, err := m.DecodeTiled(z, tf.tiling(cmd, m.Config().SpatialCompression()))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			recon, err := vae.ToImages(y)
			if err != nil {
				return err
			}
			psnr := psnr8(img, recon[0])
			if out == "" {
				out = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0])) + ".recon.png"
			}
			if err := grid.WritePNG(out, recon[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %dx%d, latents %v, encode %.1fs, decode %.1fs, PSNR %.2f dB; wrote %s\n", args[0],
				img.Width, img.Height, z.Shape().Dimensions[1:], enc.Seconds(), time.Since(start).Seconds()-enc.Seconds(), psnr, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "DC-AE diffusers folder")
	cmd.Flags().StringVar(&out, "out", "", "reconstruction PNG (default <image>.recon.png)")
	cmd.Flags().IntVar(&bucket, "bucket", 0, "resize and centre-crop to SANA's nearest bucket of this resolution (512 or 1024)")
	tf.add(cmd, 0, 2, 32, "image pixels")
	return cmd
}

// psnr8 is 10·log10(255² / MSE) over the RGB values of two same-sized 8-bit images.
func psnr8(a *imaging.RGB8, b *image.NRGBA) float64 {
	var se float64
	for y := range a.Height {
		for x := range a.Width {
			c := b.NRGBAAt(x, y)
			for ch, v := range []uint8{c.R, c.G, c.B} {
				d := float64(a.At(x, y, ch)) - float64(v)
				se += d * d
			}
		}
	}
	mse := se / float64(3*a.Width*a.Height)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}
