package prepare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/atomicfile"
	"github.com/sprint-distill/sprint/data"
	"github.com/sprint-distill/sprint/eval/imaging"
	"github.com/sprint-distill/sprint/vae"
)

// Options configures Run.
type Options struct {
	// Out is the output directory of the shards and of the progress file.
	Out string
	// Resolution selects SANA's bucket table: 512 or 1024 (default 1024).
	Resolution int
	// Buckets, when set, replaces the resolution's table (other resolutions, tests).
	Buckets []Bucket
	// VAE encodes images; it must hold the encoder. Latents are stored scaled
	// (EncodeScaled: DC-AE latents times scaling_factor), the space SANA trains in.
	VAE *vae.Model
	// Tiling tiles the encoder (see vae.Tiling; Blend in latent pixels). The zero value encodes
	// whole images, as SANA does; tiling bounds memory but changes the latents slightly where the
	// model has attention.
	Tiling vae.Tiling
	// Captions embeds the captions (see CaptionEncoder, Precomputed, ShapesCaptions).
	Captions CaptionEncoder
	// BatchSize is the number of images per encoder call (default 4). Batches never span shards.
	BatchSize int
	// ShardRows is the number of rows per shard (default 1000); a shard holds one bucket.
	ShardRows int
	// Format is the shard container (default parquet).
	Format data.Format
	// LatentDType and TextDType are the storage dtypes (default float32).
	LatentDType, TextDType dtypes.DType
	// Prefix names the files: "<Prefix>-<shard>-00000.<ext>" and "<Prefix>-progress.json"
	// (default "shard").
	Prefix string
	// Log receives a progress line after each batch (images/s, ETA); nil for none.
	Log io.Writer
	// AfterBatch, when set, is called after each batch has been written with the rows done in
	// this call and the rows left to do in this call.
	AfterBatch func(done, todo int)
}

// Report summarises a run.
type Report struct {
	Items       int      // images in the dataset
	Shards      int      // shards planned
	Resumed     int      // shards found complete from an earlier run
	RowsWritten int      // rows written by this call
	Files       []string // all shard files of the dataset, in shard order (complete runs)
	Elapsed     time.Duration
}

// settings are the options that change the bytes written, recorded in the fingerprint.
type settings struct {
	Resolution  int
	Buckets     []Bucket
	ShardRows   int
	BatchSize   int
	Format      data.Format
	LatentDType string
	TextDType   string
	Prefix      string
	Tiling      vae.Tiling
	VAEConfig   json.RawMessage
}

func (o *Options) normalize() error {
	if o.Out == "" {
		return errors.New("no output directory")
	}
	if o.Resolution == 0 {
		o.Resolution = 1024
	}
	if o.VAE == nil || o.VAE.Parts()&vae.EncoderPart == 0 {
		return errors.New("no DC-AE encoder given")
	}
	if o.Captions == nil {
		return errors.New("no caption encoder given")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 4
	}
	if o.ShardRows <= 0 {
		o.ShardRows = 1000
	}
	if o.Format == "" {
		o.Format = data.FormatParquet
	}
	if o.LatentDType == dtypes.InvalidDType {
		o.LatentDType = dtypes.Float32
	}
	if o.TextDType == dtypes.InvalidDType {
		o.TextDType = dtypes.Float32
	}
	if o.Prefix == "" {
		o.Prefix = "shard"
	}
	return nil
}

// Run encodes the images and captions of src into training shards in o.Out (schema in package
// data's documentation): each image goes to SANA's nearest aspect-ratio bucket, is resized to
// cover it (bicubic) and centre-cropped, encoded by the DC-AE and scaled; its caption is embedded
// by o.Captions. Rows are grouped by bucket (table order), kept in source order within a bucket,
// and cut into shards of o.ShardRows rows.
//
// Run is resumable: after each shard is complete (written under a temporary name and renamed),
// o.Out/<prefix>-progress.json records it. Run on the same dataset with the same options skips
// the complete shards and rewrites the one it was in; the result is byte-identical to an
// uninterrupted run. Changed items or options are refused (the fingerprint differs), as are
// shards of another run in o.Out without a progress file. A cancelled ctx stops after the current
// batch, leaving no partial shard under a shard name.
func Run(ctx context.Context, src Source, o Options) (*Report, error) {
	start := time.Now()
	if err := o.normalize(); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	buckets := o.Buckets
	if len(buckets) == 0 {
		var err error
		if buckets, err = Buckets(o.Resolution); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	items, err := src.Items(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	shards, assign, err := plan(items, buckets, o.ShardRows)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	f := o.VAE.Config().SpatialCompression()
	for _, s := range shards {
		if b := buckets[s.Bucket]; b.Height%f != 0 || b.Width%f != 0 {
			return nil, fmt.Errorf("prepare: bucket %s (%dx%d) is not a multiple of the DC-AE's compression %d",
				b.Ratio, b.Width, b.Height, f)
		}
	}
	cfgJSON, err := o.VAE.Config().JSON()
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	set := settings{Resolution: o.Resolution, Buckets: o.Buckets, ShardRows: o.ShardRows, BatchSize: o.BatchSize, Format: o.Format,
		LatentDType: data.DTypeName(o.LatentDType), TextDType: data.DTypeName(o.TextDType), Prefix: o.Prefix,
		Tiling: o.Tiling, VAEConfig: cfgJSON}
	fp, err := fingerprint(items, assign, set)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	rep := &Report{Items: len(items), Shards: len(shards)}
	ppath := progressPath(o.Out, o.Prefix)
	prog, err := readProgress(ppath)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prog != nil {
		if prog.Fingerprint != fp {
			return nil, fmt.Errorf("prepare: %s records a run with other images or options; use a new output directory "+
				"(or remove it and the shards to start over)", ppath)
		}
	} else {
		existing, _ := filepath.Glob(filepath.Join(o.Out, o.Prefix+"-*"+o.Format.Ext()))
		if len(existing) > 0 {
			return nil, fmt.Errorf("prepare: %s already holds %d shard(s) such as %s but no %s: refusing to mix runs",
				o.Out, len(existing), filepath.Base(existing[0]), filepath.Base(ppath))
		}
		prog = &progressFile{Version: progressVersion, Fingerprint: fp, Shards: len(shards), Settings: set}
		for _, s := range shards {
			prog.TotalRows += len(s.Items)
		}
		if err := mkdirAll(o.Out); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		if err := atomicfile.WriteJSON(atomicfile.OS{}, ppath, prog); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	rep.Resumed = prog.Done
	before := prog.RowsDone
	todo := prog.TotalRows - before
	done := 0
	for _, s := range shards[prog.Done:] {
		files, n, err := writeShard(ctx, &o, items, buckets[s.Bucket], s, func(rows int) {
			done += rows
			if o.Log != nil {
				el := time.Since(start).Seconds()
				rate := float64(done) / max(el, 1e-9)
				eta := time.Duration(float64(todo-done)/max(rate, 1e-9)) * time.Second
				fmt.Fprintf(o.Log, "prepare: shard %d/%d, %d/%d images, %.2f images/s, ETA %s\n",
					s.Index+1, len(shards), before+done, prog.TotalRows, rate, eta.Round(time.Second))
			}
			if o.AfterBatch != nil {
				o.AfterBatch(done, todo)
			}
		})
		rep.RowsWritten += n
		if err != nil {
			rep.Elapsed = time.Since(start)
			return rep, fmt.Errorf("prepare: shard %d: %w", s.Index, err)
		}
		prog.Done++
		prog.RowsDone += n
		prog.Files = append(prog.Files, files...)
		if err := atomicfile.WriteJSON(atomicfile.OS{}, ppath, prog); err != nil {
			return rep, fmt.Errorf("prepare: %w", err)
		}
	}
	for _, f := range prog.Files {
		rep.Files = append(rep.Files, filepath.Join(o.Out, f))
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// writeShard encodes one planned shard into its own file(s) and returns their base names and the
// row count. progress is called after each batch with its row count.
func writeShard(ctx context.Context, o *Options, items []Item, b Bucket, s plannedShard, progress func(int)) ([]string, int, error) {
	w, err := data.NewWriter(o.Out, data.WriterOptions{Format: o.Format, Prefix: fmt.Sprintf("%s-%05d", o.Prefix, s.Index),
		LatentDType: o.LatentDType, TextDType: o.TextDType, Overwrite: true})
	if err != nil {
		return nil, 0, err
	}
	rows := 0
	for start := 0; start < len(s.Items); start += o.BatchSize {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return nil, rows, err
		}
		batch := s.Items[start:min(start+o.BatchSize, len(s.Items))]
		rs, err := encodeBatch(ctx, o, items, b, batch)
		if err != nil {
			w.Abort()
			return nil, rows, err
		}
		for _, r := range rs {
			if err := w.Write(r); err != nil {
				w.Abort()
				return nil, rows, err
			}
		}
		rows += len(rs)
		progress(len(rs))
	}
	if err := w.Close(); err != nil {
		return nil, rows, err
	}
	var files []string
	for _, si := range w.Shards() {
		files = append(files, filepath.Base(si.Path))
	}
	return files, rows, nil
}

// encodeBatch loads, resizes and crops the batch's images to the bucket, encodes them and their
// captions, and returns the rows.
func encodeBatch(ctx context.Context, o *Options, items []Item, b Bucket, batch []int) ([]*data.Row, error) {
	n := len(batch)
	plane := b.Height * b.Width
	pix := make([]float32, n*3*plane)
	keys, prompts := make([]string, n), make([]string, n)
	for i, idx := range batch {
		it := items[idx]
		keys[i], prompts[i] = it.Key, it.Caption
		m, err := it.Load()
		if err != nil {
			return nil, err
		}
		m, err = ResizeCrop(m, b)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", it.Origin, err)
		}
		toCHW(m, pix[i*3*plane:(i+1)*3*plane])
	}
	x := tensors.FromFlatDataAndDimensions(pix, n, 3, b.Height, b.Width)
	z, err := o.VAE.EncodeTiled(x, o.Tiling)
	if err != nil {
		return nil, fmt.Errorf("images %s…: %w", items[batch[0]].Origin, err)
	}
	sf := float32(o.VAE.Config().ScalingFactor)
	zd := z.Shape().Dimensions
	zv, err := tensors.CopyFlatData[float32](z)
	_ = z.FinalizeAll()
	if err != nil {
		return nil, err
	}
	per := zd[1] * zd[2] * zd[3]
	emb, mask, ld, err := embedCaptions(ctx, o.Captions, keys, prompts)
	if err != nil {
		return nil, err
	}
	rows := make([]*data.Row, n)
	for i, idx := range batch {
		it := items[idx]
		lat := zv[i*per : (i+1)*per]
		for j := range lat {
			lat[j] *= sf // EncodeScaled: z · scaling_factor, in float32 as PyTorch
		}
		meta, _ := json.Marshal(map[string]string{"source": it.Origin, "bucket": b.Ratio})
		rows[i] = &data.Row{Key: it.Key, Prompt: it.Caption, Latent: lat, LatentShape: [3]int{zd[1], zd[2], zd[3]},
			TextEmbedding: emb[i], TextShape: ld, TextMask: mask[i], Width: it.Width, Height: it.Height, Meta: string(meta)}
	}
	return rows, nil
}

// toCHW writes an RGB image as (3, H, W) floats the way SANA's transform does: ToTensor then
// Normalize(0.5, 0.5), x = (p/255 − 0.5)/0.5.
func toCHW(m *imaging.RGB8, dst []float32) {
	plane := m.Width * m.Height
	for i := range plane {
		for c := range 3 {
			v := float32(m.Pix[i*3+c]) / 255
			dst[c*plane+i] = (v - 0.5) / 0.5
		}
	}
}
