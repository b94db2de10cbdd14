package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sprint-distill/sprint/config"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/grid"
)

func init() {
	registerGroup("data", "Make, inspect and verify training data shards",
		`data works on training shards (Parquet or Arrow IPC files of latents, text embeddings,
masks and prompts; see the data package documentation for the schema):

  make-shapes  write the synthetic shapes dataset of the CPU demo
  inspect      print schemas, counts, shapes, value statistics and a few rows; write a PNG
               contact sheet when the latents are shapes latents
  verify       read and check every row of every shard`,
		newDataMakeShapesCmd, newDataInspectCmd, newDataVerifyCmd, newDataEncodeCmd)
}

// dataConfig loads the data section from an optional config file and --set overrides.
func dataConfig(path string, sets []string) (data.Config, error) {
	if path == "" && len(sets) == 0 {
		return data.DefaultConfig(), nil
	}
	cfg, err := config.Load(path, sets)
	if err != nil {
		return data.Config{}, err
	}
	return cfg.Data, nil
}

func newDataMakeShapesCmd() *cobra.Command {
	var (
		cfgPath string
		flags   configFlags
		num     int
		seed    int
		size    int
		format  string
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "make-shapes OUT_DIR",
		Short: "Write the synthetic shapes dataset (images of coloured shapes, captions, latents, text embeddings)",
		Long: `make-shapes renders the shapes dataset described by data.shapes (defaults, a --config file,
--set overrides, then the flags below) and writes it to OUT_DIR as shapes-00000.parquet, ...
The output depends only on the configuration.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dc, err := dataConfig(cfgPath, flags.sets)
			if err != nil {
				return err
			}
			sc := dc.Shapes
			f := cmd.Flags()
			if f.Changed("num-samples") {
				sc.NumSamples = num
			}
			if f.Changed("seed") {
				sc.Seed = seed
			}
			if f.Changed("image-size") {
				sc.ImageSize = size
			}
			if f.Changed("format") {
				sc.Format = format
			}
			if f.Changed("force") {
				sc.Overwrite = force
			}
			if err := sc.Validate(); err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			start := time.Now()
			last := time.Time{}
			printed := false
			err = data.MakeShapesProgress(sc, args[0], func(done, total int) {
				if time.Since(last) > time.Second || done == total {
					last, printed = time.Now(), true
					el := time.Since(start).Seconds()
					fmt.Fprintf(out, "\rshapes: %d/%d rows (%.0f rows/s)", done, total, float64(done)/max(el, 1e-9))
				}
			})
			if printed {
				fmt.Fprintln(out)
			}
			if err != nil {
				return err
			}
			shape := sc.LatentShape()
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d samples to %s in %.1fs: %dx%d images, latent %s %v, text %dx%d, %s shards of %d rows\n",
				sc.NumSamples, args[0], time.Since(start).Seconds(), sc.ImageSize, sc.ImageSize, sc.LatentDType, shape[:],
				sc.MaxTokens, sc.EmbedDim, sc.Format, sc.ShardRows)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "YAML config whose data.shapes section to use")
	flags.add(cmd)
	f.IntVar(&num, "num-samples", 0, "override data.shapes.num_samples")
	f.IntVar(&seed, "seed", 0, "override data.shapes.seed")
	f.IntVar(&size, "image-size", 0, "override data.shapes.image_size")
	f.StringVar(&format, "format", "", "override data.shapes.format (parquet or arrow)")
	f.BoolVar(&force, "force", false, "replace existing shapes shards in OUT_DIR (data.shapes.overwrite)")
	return cmd
}

// dataPaths returns the shard paths from the arguments, or from data.paths of a config.
func dataPaths(args []string, cfgPath string, sets []string) ([]string, data.Config, error) {
	dc, err := dataConfig(cfgPath, sets)
	if err != nil {
		return nil, dc, err
	}
	if len(args) > 0 {
		return args, dc, nil
	}
	if len(dc.Paths) == 0 {
		return nil, dc, errors.New("no shards: give paths, directories or globs as arguments, or a --config with data.paths")
	}
	return dc.Paths, dc, nil
}

func newDataInspectCmd() *cobra.Command {
	var (
		cfgPath    string
		flags      configFlags
		format     string
		sample     int
		show       int
		sheet      string
		sheetCount int
	)
	cmd := &cobra.Command{
		Use:   "inspect [PATH|DIR|GLOB]...",
		Short: "Print schema, counts, shapes, value statistics and a few rows of shards",
		Long: `inspect opens the shards (arguments, or data.paths of --config), prints each shard's size,
the schema and metadata, the latent-shape buckets, statistics over a uniform sample of rows, and
a few rows. When the latents are shapes latents (3p² channels) it decodes sampled rows into a PNG
contact sheet (--sheet).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, _, err := dataPaths(args, cfgPath, flags.sets)
			if err != nil {
				return err
			}
			var f data.Format
			if format != "" {
				if f, err = data.ParseFormat(format); err != nil {
					return err
				}
			}
			r, err := data.Open(paths, data.ReaderOptions{Format: f, BatchSize: 1, DropLast: false})
			if err != nil {
				return err
			}
			defer r.Close()
			return inspect(cmdContext(cmd), cmd.OutOrStdout(), r, sample, show, sheet, sheetCount)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfgPath, "config", "", "YAML config whose data.paths to inspect when no paths are given")
	flags.add(cmd)
	fl.StringVar(&format, "format", "", "require this format (parquet or arrow); default: detect")
	fl.IntVar(&sample, "sample", 512, "rows sampled (uniformly) for the statistics")
	fl.IntVar(&show, "show", 5, "rows printed")
	fl.StringVar(&sheet, "sheet", "contact_sheet.png", "PNG contact sheet of decoded shapes latents (\"\": none)")
	fl.IntVar(&sheetCount, "sheet-count", 64, "images on the contact sheet")
	return cmd
}

func inspect(ctx context.Context, w io.Writer, r *data.Reader, sample, show int, sheet string, sheetCount int) error {
	shards := r.Shards()
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tFORMAT\tROWS\tGROUPS\tSIZE\tLAYOUT")
	for _, s := range shards {
		size := "?"
		if st, err := os.Stat(s.Path); err == nil {
			size = humanBytes(st.Size())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.Path, s.Format, s.Rows, s.Groups, size, s.Layout)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d rows in %d shards\n", r.Len(), len(shards))
	fmt.Fprintf(w, "\nschema of %s:\n", shards[0].Path)
	sc := r.Schema(0)
	for _, f := range sc.Fields() {
		null := ""
		if f.Nullable {
			null = ", nullable"
		}
		fmt.Fprintf(w, "  %-16s %s%s\n", f.Name, f.Type, null)
	}
	md := sc.Metadata()
	for i, k := range md.Keys() {
		if k == "ARROW:schema" {
			continue
		}
		fmt.Fprintf(w, "  %-28s %s\n", k, truncate(md.Values()[i], 200))
	}
	fmt.Fprintln(w, "\nlatent-shape buckets:")
	for _, b := range r.Buckets() {
		fmt.Fprintf(w, "  C,H,W = %v: %d rows\n", b.LatentShape[:], b.Rows)
	}
	st, refs, err := r.SampleStats(ctx, sample)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nstatistics over %d sampled rows:\n", st.Rows)
	fmt.Fprintf(w, "  latent            %s\n", st.Latent)
	for c, cs := range st.LatentChannels {
		fmt.Fprintf(w, "    channel %-3d     %s\n", c, cs)
	}
	if st.Control.Count > 0 {
		fmt.Fprintf(w, "  control           %s\n", st.Control)
	}
	fmt.Fprintf(w, "  text_embedding    %s\n", st.TextEmbedding)
	fmt.Fprintf(w, "    tokens only     %s\n", st.TextTokens)
	fmt.Fprintf(w, "  tokens per row    %s\n", st.Tokens)
	fmt.Fprintf(w, "  prompt bytes      %s (%d empty)\n", st.PromptChars, st.EmptyPrompts)
	if len(st.Categories) > 0 {
		cats := make([]string, 0, len(st.Categories))
		for k := range st.Categories {
			cats = append(cats, k)
		}
		sort.Strings(cats)
		fmt.Fprint(w, "  categories       ")
		for _, k := range cats {
			fmt.Fprintf(w, " %s=%d", k, st.Categories[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nrows:")
	for i := 0; i < show && i < r.Len(); i++ {
		ref := r.Ref(i)
		row, err := r.ReadRow(ctx, ref)
		if err != nil {
			return err
		}
		tokens := 0
		for _, m := range row.TextMask {
			tokens += int(m)
		}
		fmt.Fprintf(w, "  %s  key=%q prompt=%q category=%q size=%dx%d tokens=%d\n", ref, row.Key, row.Prompt,
			row.Category, row.Width, row.Height, tokens)
		if row.Meta != "" {
			fmt.Fprintf(w, "      meta=%s\n", truncate(row.Meta, 160))
		}
	}
	if sheet == "" {
		return nil
	}
	c := r.Buckets()[0].LatentShape[0]
	p := 1
	for 3*p*p < c {
		p++
	}
	if 3*p*p != c {
		fmt.Fprintf(w, "\nno contact sheet: %d latent channels are not a shapes latent (3p²)\n", c)
		return nil
	}
	var imgs []image.Image
	var captions []string
	for _, ref := range refs {
		if len(imgs) >= sheetCount {
			break
		}
		row, err := r.ReadRow(ctx, ref)
		if err != nil {
			return err
		}
		img, err := data.DecodeLatentFlat(row.Latent, row.LatentShape)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
		captions = append(captions, row.Prompt)
	}
	if err := writeContactSheet(sheet, imgs); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s: %d decoded samples, row-major; the first ones are:\n", sheet, len(imgs))
	for i := 0; i < len(captions) && i < 8; i++ {
		fmt.Fprintf(w, "  %d: %s\n", i, captions[i])
	}
	return nil
}

// writeContactSheet tiles images (scaled up 4x, nearest neighbour) on a grey grid, 8 per row.
func writeContactSheet(path string, imgs []image.Image) error {
	if len(imgs) == 0 {
		return errors.New("contact sheet: no images")
	}
	sheet := grid.Layout{Cols: 8, Scale: 4, Gap: 4, Margin: true, Background: color.RGBA{96, 96, 96, 255}}.Draw(imgs)
	return grid.WritePNG(path, sheet)
}

func newDataVerifyCmd() *cobra.Command {
	var (
		cfgPath string
		flags   configFlags
		format  string
	)
	cmd := &cobra.Command{
		Use:   "verify [PATH|DIR|GLOB]...",
		Short: "Read every row of every shard and check it; exit 1 on any problem",
		Long: `verify opens the shards (arguments, or data.paths of --config; the schema of every shard is
checked on opening) and reads every row: sizes, 0/1 masks, finite values, non-null keys and
prompts, duplicate keys. It lists the problems (file and row) and exits with status 1 if any.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, dc, err := dataPaths(args, cfgPath, flags.sets)
			if err != nil {
				return err
			}
			var f data.Format
			switch {
			case format != "":
				f, err = data.ParseFormat(format)
			case len(args) == 0:
				f, err = data.ParseFormat(dc.Format)
			}
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := data.Open(paths, data.ReaderOptions{Format: f, BatchSize: 1})
			if err != nil {
				return err
			}
			defer r.Close()
			errOut := cmd.ErrOrStderr()
			last := time.Time{}
			ctx := cmdContext(cmd)
			rep, err := r.Verify(ctx, func(done int) {
				if time.Since(last) > time.Second {
					last = time.Now()
					fmt.Fprintf(errOut, "\rverify: %d/%d rows", done, r.Len())
				}
			})
			fmt.Fprintf(errOut, "\rverify: %d/%d rows\n", r.Len(), r.Len())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d shards, %d groups, %d rows read in %.1fs\n", rep.Shards, rep.Groups, rep.Rows+rep.BadRows,
				time.Since(start).Seconds())
			for _, b := range r.Buckets() {
				fmt.Fprintf(w, "  latent %v: %d rows\n", b.LatentShape[:], b.Rows)
			}
			fmt.Fprintf(w, "latent          %s\n", rep.Stats.Latent)
			if rep.Stats.Control.Count > 0 {
				fmt.Fprintf(w, "control         %s\n", rep.Stats.Control)
			}
			fmt.Fprintf(w, "text_embedding  %s\n", rep.Stats.TextEmbedding)
			fmt.Fprintf(w, "tokens per row  %s\n", rep.Stats.Tokens)
			if rep.OK() {
				fmt.Fprintln(w, "ok: every row passed")
				return nil
			}
			for _, e := range rep.Errors {
				fmt.Fprintf(w, "ERROR %s\n", e)
			}
			if n := rep.BadRows + rep.BadGroups; n > len(rep.Errors) {
				fmt.Fprintf(w, "(%d more problems not listed)\n", n-len(rep.Errors))
			}
			return exitError{code: 1, err: fmt.Errorf("verify: %d bad rows, %d unreadable groups, %d duplicate keys",
				rep.BadRows, rep.BadGroups, rep.DuplicateKeys)}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfgPath, "config", "", "YAML config whose data.paths (and data.format) to verify when no paths are given")
	flags.add(cmd)
	fl.StringVar(&format, "format", "", "require this format (parquet or arrow); default: detect (or data.format with --config)")
	return cmd
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "..."
}
