package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/gomlx/compute/dtypes"
)

// DefaultGroupBytes is the default target size of a row group (Parquet) or record batch (Arrow). Groups
// are the unit of random access: the reader decodes a whole group to get one row, so groups are kept
// small (one row for SANA's 1024px rows of about 1.4 MB; about 70 rows of the default shapes dataset).
const DefaultGroupBytes = 1 << 20

// maxGroupBytes keeps a group's binary columns well below arrow's 2 GiB int32 offsets.
const maxGroupBytes = 1 << 30

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Format is the shard container (default parquet).
	Format Format
	// Prefix names the shards: "<Prefix>-00000.parquet", ... (default "shard").
	Prefix string
	// LatentDType and TextDType are the storage dtypes (default float32).
	LatentDType, TextDType dtypes.DType
	// MaxRows closes a shard once it holds this many rows (0: no row limit).
	MaxRows int
	// MaxBytes closes a shard once its row payload (tensors and strings) reaches this many bytes
	// (0: no byte limit). With neither limit, each latent shape gets a single shard.
	MaxBytes int64
	// GroupBytes is the target payload of a row group / record batch (default DefaultGroupBytes;
	// at least one row per group).
	GroupBytes int64
	// Compression is "none" (default), "zstd", "snappy" (parquet only) or "lz4" (arrow only).
	Compression string
	// Metadata holds extra schema-level key/value pairs written into every shard (keys must not start
	// with "sprint." unless this package defines them, e.g. MetaShapesConfig).
	Metadata map[string]string
	// Overwrite removes existing "<Prefix>-*<ext>" shards in the directory; without it, their presence is an error.
	Overwrite bool
}

func (o *WriterOptions) normalize() error {
	if o.Format == "" {
		o.Format = FormatParquet
	}
	if _, err := ParseFormat(string(o.Format)); err != nil {
		return err
	}
	if o.Prefix == "" {
		o.Prefix = "shard"
	}
	if strings.ContainsAny(o.Prefix, `/\*?[`) {
		return fmt.Errorf("shard prefix %q must not contain path separators or glob characters", o.Prefix)
	}
	if err := defaultFloatDTypes(&o.LatentDType, &o.TextDType, "dtype"); err != nil {
		return err
	}
	if o.MaxRows < 0 || o.MaxBytes < 0 || o.GroupBytes < 0 {
		return fmt.Errorf("max rows, max bytes and group bytes must be >= 0")
	}
	if o.GroupBytes == 0 {
		o.GroupBytes = DefaultGroupBytes
	}
	if o.GroupBytes > maxGroupBytes {
		return fmt.Errorf("group bytes %d exceeds %d", o.GroupBytes, maxGroupBytes)
	}
	switch c := strings.ToLower(o.Compression); c {
	case "", "none":
		o.Compression = "none"
	case "zstd":
		o.Compression = c
	case "snappy":
		if o.Format != FormatParquet {
			return fmt.Errorf("compression snappy is only available for parquet")
		}
		o.Compression = c
	case "lz4":
		if o.Format != FormatArrow {
			return fmt.Errorf("compression lz4 is only available for arrow")
		}
		o.Compression = c
	default:
		return fmt.Errorf("unknown compression %q: want none, zstd, snappy (parquet) or lz4 (arrow)", o.Compression)
	}
	return nil
}

// ShardInfo describes one shard file.
type ShardInfo struct {
	Path   string
	Format Format
	Rows   int
	// Groups is the number of row groups (Parquet) or record batches (Arrow).
	Groups int
	Layout Layout
}

// Writer streams rows into shards of a target size. Rows whose latent shapes differ go to different
// shards (every shard has one Layout); the text embedding shape must be the same for all rows.
// Shards are written under a temporary name and renamed when complete, so a directory never holds
// a partial shard under a shard name. A Writer is not safe for concurrent use.
type Writer struct {
	dir      string
	opts     WriterOptions
	open     map[[3]int]*shardWriter
	order    [][3]int // open shapes in creation order, for a deterministic Close
	text     [2]int
	haveText bool
	control  bool // the dataset's rows have control latents (fixed by the first row)
	seq      int
	shards   []ShardInfo
	err      error
	closed   bool
	scratch  []byte
}

// NewWriter creates dir if needed and returns a Writer of shards in it.
func NewWriter(dir string, opts WriterOptions) (*Writer, error) {
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("data writer: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data writer: %w", err)
	}
	pattern := filepath.Join(dir, opts.Prefix+"-*"+opts.Format.Ext())
	existing, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("data writer: %w", err)
	}
	if len(existing) > 0 {
		if !opts.Overwrite {
			return nil, fmt.Errorf("data writer: %s already holds %d shard(s) matching %s (remove them or overwrite)",
				dir, len(existing), filepath.Base(pattern))
		}
		for _, p := range existing {
			if err := os.Remove(p); err != nil {
				return nil, fmt.Errorf("data writer: %w", err)
			}
		}
	}
	return &Writer{dir: dir, opts: opts, open: map[[3]int]*shardWriter{}}, nil
}

// Write appends a row. The row is validated (shapes, finite values, 0/1 mask) first; an invalid row is
// an error and nothing is written. Errors from the file system are sticky: later calls return them.
func (w *Writer) Write(row *Row) error {
	if w.closed {
		return errors.New("data writer: write after Close")
	}
	if w.err != nil {
		return w.err
	}
	if err := row.check(); err != nil {
		return fmt.Errorf("data writer: row %w", err)
	}
	if !w.haveText {
		w.text, w.haveText, w.control = row.TextShape, true, row.Control != nil
	} else if (row.Control != nil) != w.control {
		return fmt.Errorf("data writer: row key %q: %s", row.Key, controlMismatch(w.control))
	} else if row.TextShape != w.text {
		return fmt.Errorf("data writer: row key %q: text_embedding shape %v differs from the dataset's %v",
			row.Key, row.TextShape, w.text)
	}
	sw := w.open[row.LatentShape]
	if sw == nil {
		layout := Layout{LatentDType: w.opts.LatentDType, LatentShape: row.LatentShape,
			TextDType: w.opts.TextDType, TextShape: row.TextShape, Control: w.control}
		var err error
		sw, err = newShardWriter(filepath.Join(w.dir, fmt.Sprintf("%s-%05d%s", w.opts.Prefix, w.seq, w.opts.Format.Ext())),
			layout, &w.opts)
		if err != nil {
			w.err = fmt.Errorf("data writer: %w", err)
			return w.err
		}
		w.seq++
		w.open[row.LatentShape] = sw
		w.order = append(w.order, row.LatentShape)
	}
	if err := sw.append(row, &w.scratch); err != nil {
		w.err = fmt.Errorf("data writer: shard %s: %w", sw.path, err)
		return w.err
	}
	if (w.opts.MaxRows > 0 && sw.rows >= w.opts.MaxRows) || (w.opts.MaxBytes > 0 && sw.bytes >= w.opts.MaxBytes) {
		if err := w.finish(row.LatentShape); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) finish(shape [3]int) error {
	sw := w.open[shape]
	delete(w.open, shape)
	for i, s := range w.order {
		if s == shape {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
	info, err := sw.close()
	if err != nil {
		w.err = fmt.Errorf("data writer: shard %s: %w", sw.path, err)
		return w.err
	}
	w.shards = append(w.shards, info)
	return nil
}

// Close flushes and closes every open shard. After an earlier error, Close removes the open shards'
// temporary files and returns that error.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		for _, sw := range w.open {
			sw.abort()
		}
		return w.err
	}
	for len(w.order) > 0 {
		if err := w.finish(w.order[0]); err != nil {
			for _, sw := range w.open {
				sw.abort()
			}
			return err
		}
	}
	return nil
}

// Abort discards the open shards (their temporary files are removed) and ends the Writer; completed
// shards (see Shards) stay on disk.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	for _, sw := range w.open {
		sw.abort()
	}
	w.open = nil
	w.order = nil
	if w.err == nil {
		w.err = errors.New("data writer: aborted")
	}
}

// Shards lists the shards completed so far, in completion order.
func (w *Writer) Shards() []ShardInfo { return append([]ShardInfo(nil), w.shards...) }

// shardWriter writes one shard file.
type shardWriter struct {
	path, tmp string
	layout    Layout
	format    Format
	groupRows int
	file      *os.File
	pq        *pqarrow.FileWriter
	ipcw      *ipc.FileWriter
	schema    *arrow.Schema
	builder   *array.RecordBuilder
	inGroup   int
	rows      int
	groups    int
	bytes     int64
}

func newShardWriter(path string, layout Layout, opts *WriterOptions) (*shardWriter, error) {
	groupRows := int(opts.GroupBytes / int64(layout.RowBytes()))
	if groupRows < 1 {
		groupRows = 1
	}
	sw := &shardWriter{path: path, tmp: path + ".tmp", layout: layout, format: opts.Format, groupRows: groupRows}
	sw.schema = arrowSchema(layout, groupRows, opts.Metadata)
	f, err := os.Create(sw.tmp)
	if err != nil {
		return nil, err
	}
	sw.file = f
	mem := memory.DefaultAllocator
	switch opts.Format {
	case FormatParquet:
		codec := compress.Codecs.Uncompressed
		switch opts.Compression {
		case "zstd":
			codec = compress.Codecs.Zstd
		case "snappy":
			codec = compress.Codecs.Snappy
		}
		props := parquet.NewWriterProperties(
			parquet.WithCompression(codec),
			parquet.WithDictionaryDefault(false),
			parquet.WithStatsFor(ColLatent, false),
			parquet.WithStatsFor(ColTextEmbedding, false),
			parquet.WithStatsFor(ColTextMask, false),
			parquet.WithStatsFor(ColControl, false),
			parquet.WithMaxRowGroupLength(int64(groupRows)),
			parquet.WithCreatedBy("sprint data"),
			parquet.WithAllocator(mem),
		)
		// The parquet writer closes a sink that is an io.Closer: hand it only the Write method so that
		// close can Sync before closing the file.
		sw.pq, err = pqarrow.NewFileWriter(sw.schema, writeOnly{f}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	case FormatArrow:
		ipcOpts := []ipc.Option{ipc.WithSchema(sw.schema), ipc.WithAllocator(mem)}
		switch opts.Compression {
		case "zstd":
			ipcOpts = append(ipcOpts, ipc.WithZstd())
		case "lz4":
			ipcOpts = append(ipcOpts, ipc.WithLZ4())
		}
		sw.ipcw, err = ipc.NewFileWriter(f, ipcOpts...)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(sw.tmp)
		return nil, err
	}
	sw.builder = array.NewRecordBuilder(mem, sw.schema)
	return sw, nil
}

func (sw *shardWriter) append(r *Row, scratch *[]byte) error {
	b := sw.builder
	b.Field(0).(*array.StringBuilder).Append(r.Key)
	b.Field(1).(*array.StringBuilder).Append(r.Prompt)
	*scratch = encodeFloat32((*scratch)[:0], r.Latent, sw.layout.LatentDType)
	b.Field(2).(*array.BinaryBuilder).Append(*scratch)
	*scratch = encodeFloat32((*scratch)[:0], r.TextEmbedding, sw.layout.TextDType)
	b.Field(3).(*array.BinaryBuilder).Append(*scratch)
	mask := (*scratch)[:0]
	for _, m := range r.TextMask {
		mask = append(mask, byte(m))
	}
	*scratch = mask
	b.Field(4).(*array.BinaryBuilder).Append(mask)
	appendOptString(b.Field(5).(*array.StringBuilder), r.Category)
	appendOptInt(b.Field(6).(*array.Int32Builder), r.Width)
	appendOptInt(b.Field(7).(*array.Int32Builder), r.Height)
	appendOptString(b.Field(8).(*array.StringBuilder), r.Meta)
	if sw.layout.Control {
		*scratch = encodeFloat32((*scratch)[:0], r.Control, sw.layout.LatentDType)
		b.Field(9).(*array.BinaryBuilder).Append(*scratch)
	}
	sw.inGroup++
	sw.rows++
	sw.bytes += int64(sw.layout.RowBytes() + len(r.Key) + len(r.Prompt) + len(r.Category) + len(r.Meta) + 8)
	if sw.inGroup >= sw.groupRows {
		return sw.flush()
	}
	return nil
}

func appendOptString(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

func appendOptInt(b *array.Int32Builder, v int) {
	if v == 0 {
		b.AppendNull()
		return
	}
	b.Append(int32(v))
}

func (sw *shardWriter) flush() error {
	if sw.inGroup == 0 {
		return nil
	}
	rec := sw.builder.NewRecord()
	defer rec.Release()
	sw.inGroup = 0
	sw.groups++
	if sw.pq != nil {
		return sw.pq.Write(rec)
	}
	return sw.ipcw.Write(rec)
}

func (sw *shardWriter) close() (ShardInfo, error) {
	err := sw.flush()
	if sw.pq != nil {
		err = errors.Join(err, sw.pq.Close())
	} else {
		err = errors.Join(err, sw.ipcw.Close())
	}
	if err == nil {
		err = sw.file.Sync()
	}
	err = errors.Join(err, sw.file.Close())
	sw.builder.Release()
	if err == nil {
		err = os.Rename(sw.tmp, sw.path)
	}
	if err != nil {
		_ = os.Remove(sw.tmp)
		return ShardInfo{}, err
	}
	return ShardInfo{Path: sw.path, Format: sw.format, Rows: sw.rows, Groups: sw.groups, Layout: sw.layout}, nil
}

// writeOnly hides every method of a writer but Write.
type writeOnly struct{ w io.Writer }

func (w writeOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

func (sw *shardWriter) abort() {
	sw.builder.Release()
	_ = sw.file.Close()
	_ = os.Remove(sw.tmp)
}
