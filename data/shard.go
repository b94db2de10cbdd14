package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// Indices into columnSpecs (and shard.cols).
const (
	ciKey = iota
	ciPrompt
	ciLatent
	ciText
	ciMask
	ciCategory
	ciWidth
	ciHeight
	ciMeta
	ciControl
)

var (
	parquetMagic = []byte("PAR1")
	arrowMagic   = []byte("ARROW1")
)

// shard is what the reader knows of one file after scanning its footer.
type shard struct {
	ShardInfo
	// groupStart[g] is the first row of group g; groupStart[Groups] == Rows.
	groupStart []int
	// cols maps each columnSpecs entry to a schema column index (-1: absent optional column).
	cols   []int
	pqMeta *metadata.FileMetaData
	schema *arrow.Schema
}

// safely runs fn and turns a panic (arrow and parquet panic on some corrupt inputs) into an error.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt data (decoder panicked: %v)", r)
		}
	}()
	return fn()
}

// detectFormat reads the magic bytes at both ends of the file.
func detectFormat(f *os.File) (Format, error) {
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := st.Size()
	head := make([]byte, 6)
	tail := make([]byte, 6)
	if size < 12 {
		return "", fmt.Errorf("file is %d bytes: too small to be a parquet or arrow file (truncated?)", size)
	}
	if _, err := f.ReadAt(head, 0); err != nil {
		return "", err
	}
	if _, err := f.ReadAt(tail, size-6); err != nil {
		return "", err
	}
	switch {
	case bytes.Equal(head[:4], parquetMagic):
		if !bytes.Equal(tail[2:], parquetMagic) {
			return "", errors.New("parquet file without its footer magic: truncated or corrupt")
		}
		return FormatParquet, nil
	case bytes.Equal(head, arrowMagic):
		if !bytes.Equal(tail, arrowMagic) {
			return "", errors.New("arrow file without its footer magic: truncated or corrupt")
		}
		return FormatArrow, nil
	}
	return "", errors.New("not a parquet or arrow IPC file (bad magic bytes)")
}

// scanShard opens path, checks its schema and reads its row layout. want may be "" to accept either format.
func scanShard(path string, want Format) (*shard, error) {
	s, err := scanShardInner(path, want)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", path, err)
	}
	return s, nil
}

func scanShardInner(path string, want Format) (s *shard, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	format, err := detectFormat(f)
	if err != nil {
		return nil, err
	}
	if want != "" && format != want {
		return nil, fmt.Errorf("file is %s, but the configured format is %s", format, want)
	}
	s = &shard{ShardInfo: ShardInfo{Path: path, Format: format}}
	var schema *arrow.Schema
	err = safely(func() error {
		switch format {
		case FormatParquet:
			pf, err := file.NewParquetReader(f)
			if err != nil {
				return err
			}
			md := pf.MetaData()
			s.pqMeta = md
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				return err
			}
			if schema, err = fr.Schema(); err != nil {
				return err
			}
			s.Groups = pf.NumRowGroups()
			s.groupStart = make([]int, s.Groups+1)
			for g := 0; g < s.Groups; g++ {
				s.groupStart[g+1] = s.groupStart[g] + int(md.RowGroup(g).NumRows())
			}
		case FormatArrow:
			r, err := ipc.NewFileReader(f, ipc.WithAllocator(memory.DefaultAllocator))
			if err != nil {
				return err
			}
			defer r.Close()
			schema = r.Schema()
			s.Groups = r.NumRecords()
			s.groupStart = make([]int, s.Groups+1)
			if err := arrowGroupRows(r, schema, s.groupStart); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Rows = s.groupStart[s.Groups]
	s.schema = schema
	if s.Layout, err = layoutFromMetadata(schema.Metadata()); err != nil {
		return nil, err
	}
	if s.cols, err = checkSchema(schema, s.Layout); err != nil {
		return nil, err
	}
	s.Layout.Control = s.cols[ciControl] >= 0
	return s, nil
}

// arrowGroupRows fills start with the first row of each record batch. Files written by this package
// record a fixed group size (all batches but the last have MetaGroupRows rows) so only the last batch
// is read; for other files every batch is read once.
func arrowGroupRows(r *ipc.FileReader, schema *arrow.Schema, start []int) error {
	n := r.NumRecords()
	if n == 0 {
		return nil
	}
	numRows := func(i int) (int, error) {
		rec, err := r.RecordAt(i)
		if err != nil {
			return 0, fmt.Errorf("record batch %d: %w", i, err)
		}
		defer rec.Release()
		return int(rec.NumRows()), nil
	}
	fixed := 0
	if i := schema.Metadata().FindKey(MetaGroupRows); i >= 0 {
		v, err := strconv.Atoi(schema.Metadata().Values()[i])
		if err != nil || v <= 0 {
			return fmt.Errorf("schema metadata %s=%q: want a positive integer", MetaGroupRows, schema.Metadata().Values()[i])
		}
		fixed = v
	}
	if fixed > 0 {
		for i := 0; i < n-1; i++ {
			start[i+1] = start[i] + fixed
		}
		last, err := numRows(n - 1)
		if err != nil {
			return err
		}
		start[n] = start[n-1] + last
		return nil
	}
	for i := 0; i < n; i++ {
		rows, err := numRows(i)
		if err != nil {
			return err
		}
		start[i+1] = start[i] + rows
	}
	return nil
}

// groupOf returns the group holding row and the row's index inside it.
func (s *shard) groupOf(row int) (int, int) {
	lo, hi := 0, s.Groups-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.groupStart[mid] <= row {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, row - s.groupStart[lo]
}

// shardHandle is an open shard for reading groups; safe for concurrent use.
type shardHandle struct {
	f   *os.File
	pq  *pqarrow.FileReader
	ipc *ipc.FileReader
}

// open opens s for reading groups; Arrow IPC buffers come from alloc (see recycler).
func (s *shard) open(alloc memory.Allocator) (*shardHandle, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", s.Path, err)
	}
	h := &shardHandle{f: f}
	err = safely(func() error {
		switch s.Format {
		case FormatParquet:
			pf, err := file.NewParquetReader(f, file.WithMetadata(s.pqMeta),
				file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
			if err != nil {
				return err
			}
			h.pq, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			return err
		default:
			var err error
			h.ipc, err = ipc.NewFileReader(f, ipc.WithAllocator(alloc))
			return err
		}
	})
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("shard %s: %w", s.Path, err)
	}
	return h, nil
}

func (h *shardHandle) close() error {
	if h.ipc != nil {
		_ = h.ipc.Close()
	}
	return h.f.Close()
}

// column is one column of a decoded group, possibly in several chunks.
type column struct {
	chunks []arrow.Array
	starts []int
}

func newColumn(chunks []arrow.Array) column {
	c := column{chunks: chunks, starts: make([]int, len(chunks))}
	n := 0
	for i, a := range chunks {
		c.starts[i] = n
		n += a.Len()
	}
	return c
}

func (c *column) locate(i int) (arrow.Array, int) {
	if len(c.chunks) == 1 {
		return c.chunks[0], i
	}
	k := len(c.chunks) - 1
	for k > 0 && c.starts[k] > i {
		k--
	}
	return c.chunks[k], i - c.starts[k]
}

func (c *column) present() bool { return c.chunks != nil }

func (c *column) bytesAt(i int) ([]byte, bool) {
	a, j := c.locate(i)
	if a.IsNull(j) {
		return nil, false
	}
	switch v := a.(type) {
	case *array.Binary:
		return v.Value(j), true
	case *array.LargeBinary:
		return v.Value(j), true
	case *array.FixedSizeBinary:
		return v.Value(j), true
	}
	return nil, false
}

func (c *column) stringAt(i int) (string, bool) {
	if !c.present() {
		return "", false
	}
	a, j := c.locate(i)
	if a.IsNull(j) {
		return "", false
	}
	switch v := a.(type) {
	case *array.String:
		return v.Value(j), true
	case *array.LargeString:
		return v.Value(j), true
	}
	return "", false
}

func (c *column) intAt(i int) (int, bool) {
	if !c.present() {
		return 0, false
	}
	a, j := c.locate(i)
	if a.IsNull(j) {
		return 0, false
	}
	switch v := a.(type) {
	case *array.Int32:
		return int(v.Value(j)), true
	case *array.Int64:
		return int(v.Value(j)), true
	}
	return 0, false
}

// group is one decoded row group / record batch. It is reference counted: whoever gets a group
// (readGroup, the cache) holds one reference and calls unref when done; at zero an Arrow record's
// buffers go back to the allocator, so no slice or string of the group may be kept after unref.
type group struct {
	shard *shard
	index int
	first int // shard row of the group's first row
	rows  int
	cols  [len(ciNames)]column
	size  int64
	refs  atomic.Int32
	rec   arrow.Record // the Arrow IPC record to release; nil for Parquet (garbage collected)
}

func (g *group) ref() { g.refs.Add(1) }

func (g *group) unref() {
	if g.refs.Add(-1) == 0 && g.rec != nil {
		g.rec.Release()
		g.rec = nil
	}
}

var ciNames = [...]string{ColKey, ColPrompt, ColLatent, ColTextEmbedding, ColTextMask, ColCategory, ColWidth, ColHeight, ColMeta, ColControl}

// readGroup decodes group g of s.
func (h *shardHandle) readGroup(ctx context.Context, s *shard, g int) (*group, error) {
	if g < 0 || g >= s.Groups {
		return nil, fmt.Errorf("shard %s: group %d out of range [0, %d)", s.Path, g, s.Groups)
	}
	gr := &group{shard: s, index: g, first: s.groupStart[g], rows: s.groupStart[g+1] - s.groupStart[g]}
	gr.refs.Store(1)
	var got int
	err := safely(func() error {
		if h.pq != nil {
			// Column by column in this goroutine: ReadRowGroups decodes in goroutines of its own, where
			// a decoder panic on corrupt data could not be recovered.
			rgr := h.pq.RowGroup(g)
			got = -1
			for k, ci := range s.cols {
				if ci < 0 {
					continue
				}
				chunked, err := rgr.Column(ci).Read(ctx)
				if err != nil {
					return fmt.Errorf("column %q: %w", ciNames[k], err)
				}
				gr.cols[k] = newColumn(chunked.Chunks())
				if got < 0 || chunked.Len() != got {
					if got >= 0 {
						return fmt.Errorf("column %q has %d rows, other columns %d", ciNames[k], chunked.Len(), got)
					}
					got = chunked.Len()
				}
			}
			return nil
		}
		rec, err := h.ipc.RecordAt(g)
		if err != nil {
			return err
		}
		gr.rec = rec
		got = int(rec.NumRows())
		for k, ci := range s.cols {
			if ci >= 0 {
				gr.cols[k] = newColumn([]arrow.Array{rec.Column(ci)})
			}
		}
		return nil
	})
	first, last := gr.first, gr.first+gr.rows-1
	if err == nil && got != gr.rows {
		err = fmt.Errorf("group has %d rows, the footer says %d", got, gr.rows)
	}
	if err != nil {
		if gr.rec != nil {
			gr.rec.Release()
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w (truncated file?)", err)
		}
		return nil, fmt.Errorf("shard %s rows %d-%d (group %d): %w", s.Path, first, last, g, err)
	}
	for k := range gr.cols {
		for _, a := range gr.cols[k].chunks {
			for _, b := range a.Data().Buffers() {
				if b != nil {
					gr.size += int64(b.Len())
				}
			}
		}
	}
	return gr, nil
}

// rawRow is one row of a group with its tensors still in stored form, checked for size and mask values.
type rawRow struct {
	key, prompt, category, meta string
	latent, text, mask          []byte
	control                     []byte // nil unless the shard has control latents
	width, height               int
}

// rowError formats an error about row i (shard row numbering) of the group.
func (g *group) rowError(i int, key string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		return fmt.Errorf("shard %s row %d (key %q): %s", g.shard.Path, g.first+i, key, msg)
	}
	return fmt.Errorf("shard %s row %d: %s", g.shard.Path, g.first+i, msg)
}

// raw returns row i (index within the group) after checking nulls, byte sizes and mask values.
func (g *group) raw(i int) (rawRow, error) {
	var r rawRow
	var ok bool
	l := g.shard.Layout
	if r.key, ok = g.cols[ciKey].stringAt(i); !ok || r.key == "" {
		return r, g.rowError(i, "", "key is null or empty, want a non-empty string")
	}
	if r.prompt, ok = g.cols[ciPrompt].stringAt(i); !ok {
		return r, g.rowError(i, r.key, "prompt is null, want a string (\"\" for the null caption)")
	}
	if err := g.checkBytes(i, r.key, ciLatent, &r.latent, l.LatentBytes()); err != nil {
		return r, err
	}
	if err := g.checkBytes(i, r.key, ciText, &r.text, l.TextBytes()); err != nil {
		return r, err
	}
	if err := g.checkBytes(i, r.key, ciMask, &r.mask, l.TextShape[0]); err != nil {
		return r, err
	}
	for j, m := range r.mask {
		if m > 1 {
			return r, g.rowError(i, r.key, "text_mask element %d is %d, want 0 or 1", j, m)
		}
	}
	if l.Control {
		if err := g.checkBytes(i, r.key, ciControl, &r.control, l.ControlBytes()); err != nil {
			return r, err
		}
	}
	r.category, _ = g.cols[ciCategory].stringAt(i)
	r.meta, _ = g.cols[ciMeta].stringAt(i)
	// Arrow strings alias the group's buffers, which are recycled after unref.
	r.key, r.prompt = strings.Clone(r.key), strings.Clone(r.prompt)
	r.category, r.meta = strings.Clone(r.category), strings.Clone(r.meta)
	r.width, _ = g.cols[ciWidth].intAt(i)
	r.height, _ = g.cols[ciHeight].intAt(i)
	return r, nil
}

// checkBytes reads the binary column ci of row i into dst and checks its size.
func (g *group) checkBytes(i int, key string, ci int, dst *[]byte, want int) error {
	b, ok := g.cols[ci].bytesAt(i)
	if ok && len(b) == want {
		*dst = b
		return nil
	}
	l := g.shard.Layout
	var desc string
	switch ci {
	case ciLatent, ciControl:
		desc = fmt.Sprintf("%s %v", DTypeName(l.LatentDType), l.LatentShape[:])
	case ciText:
		desc = fmt.Sprintf("%s %v", DTypeName(l.TextDType), l.TextShape[:])
	default:
		desc = fmt.Sprintf("uint8 [%d]", l.TextShape[0])
	}
	if !ok {
		return g.rowError(i, key, "%s is null, want %d bytes (%s)", ciNames[ci], want, desc)
	}
	return g.rowError(i, key, "%s has %d bytes, want %d (%s)", ciNames[ci], len(b), want, desc)
}

// row decodes row i of the group into a Row (float32 tensors), checking that values are finite.
func (g *group) row(i int) (*Row, error) {
	r, err := g.raw(i)
	if err != nil {
		return nil, err
	}
	l := g.shard.Layout
	out := &Row{
		Key: r.key, Prompt: r.prompt, Category: r.category, Meta: r.meta, Width: r.width, Height: r.height,
		LatentShape: l.LatentShape, TextShape: l.TextShape,
		Latent:        make([]float32, l.LatentBytes()/l.LatentDType.Size()),
		TextEmbedding: make([]float32, l.TextBytes()/l.TextDType.Size()),
		TextMask:      make([]float32, l.TextShape[0]),
	}
	if j := decodeToFloat32(out.Latent, r.latent, l.LatentDType); j >= 0 {
		return nil, g.rowError(i, r.key, "latent element %d is %v, want finite values", j, out.Latent[j])
	}
	if j := decodeToFloat32(out.TextEmbedding, r.text, l.TextDType); j >= 0 {
		return nil, g.rowError(i, r.key, "text_embedding element %d is %v, want finite values", j, out.TextEmbedding[j])
	}
	for j, m := range r.mask {
		out.TextMask[j] = float32(m)
	}
	if l.Control {
		out.Control = make([]float32, len(out.Latent))
		if j := decodeToFloat32(out.Control, r.control, l.LatentDType); j >= 0 {
			return nil, g.rowError(i, r.key, "control element %d is %v, want finite values", j, out.Control[j])
		}
	}
	return out, nil
}
