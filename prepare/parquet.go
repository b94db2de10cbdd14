package prepare

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/sprint-distill/sprint/eval/imaging"
)

// ParquetColumns names the columns of a Parquet dataset.
type ParquetColumns struct {
	// Image holds encoded image bytes: binary, or a struct with a binary "bytes" field (the
	// Hugging Face datasets Image feature). Default "image".
	Image string
	// Caption is a string column. Default "caption"; "text" is tried when there is no "caption".
	Caption string
	// Key is an optional string column of sample ids; without it the key is "row-<index>"
	// (zero-padded to 8 digits).
	Key string
}

// Parquet is a Parquet file with encoded images and captions, one row per sample, read in row
// order, one row group at a time.
type Parquet struct {
	Path    string
	Columns ParquetColumns
}

// parquetIndex is a Parquet dataset's column indices.
type parquetIndex struct {
	image, caption, key int // key −1: none
	imageField          int // for struct image columns, the "bytes" field; −1 for plain binary
}

func (s Parquet) withDefaults() ParquetColumns {
	c := s.Columns
	if c.Image == "" {
		c.Image = "image"
	}
	return c
}

// open opens the file for reading and resolves the columns.
func (s Parquet) open() (*os.File, *pqarrow.FileReader, parquetIndex, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, nil, parquetIndex{}, fmt.Errorf("dataset: %w", err)
	}
	idx, fr, err := func() (idx parquetIndex, fr *pqarrow.FileReader, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		pf, err := file.NewParquetReader(f)
		if err != nil {
			return idx, nil, err
		}
		fr, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return idx, nil, err
		}
		schema, err := fr.Schema()
		if err != nil {
			return idx, nil, err
		}
		idx, err = s.resolve(schema)
		return idx, fr, err
	}()
	if err != nil {
		_ = f.Close()
		return nil, nil, parquetIndex{}, fmt.Errorf("dataset %s: %w", s.Path, err)
	}
	return f, fr, idx, nil
}

func (s Parquet) resolve(schema *arrow.Schema) (parquetIndex, error) {
	c := s.withDefaults()
	idx := parquetIndex{key: -1, imageField: -1}
	find := func(name string) int {
		if ids := schema.FieldIndices(name); len(ids) == 1 {
			return ids[0]
		}
		return -1
	}
	if idx.image = find(c.Image); idx.image < 0 {
		return idx, fmt.Errorf("no image column %q (columns: %s)", c.Image, fieldNames(schema))
	}
	switch t := schema.Field(idx.image).Type.(type) {
	case *arrow.BinaryType, *arrow.LargeBinaryType:
	case *arrow.StructType:
		i, ok := t.FieldIdx("bytes")
		if !ok || !isBinary(t.Field(i).Type) {
			return idx, fmt.Errorf("image column %q is a struct without a binary \"bytes\" field", c.Image)
		}
		idx.imageField = i
	default:
		return idx, fmt.Errorf("image column %q has type %s, want binary or struct{bytes: binary}", c.Image, t)
	}
	switch {
	case c.Caption != "":
		idx.caption = find(c.Caption)
	case find("caption") >= 0:
		idx.caption, c.Caption = find("caption"), "caption"
	default:
		idx.caption, c.Caption = find("text"), "text"
	}
	if idx.caption < 0 {
		return idx, fmt.Errorf("no caption column %q (columns: %s)", c.Caption, fieldNames(schema))
	}
	if !isString(schema.Field(idx.caption).Type) {
		return idx, fmt.Errorf("caption column %q has type %s, want a string", c.Caption, schema.Field(idx.caption).Type)
	}
	if c.Key != "" {
		if idx.key = find(c.Key); idx.key < 0 || !isString(schema.Field(idx.key).Type) {
			return idx, fmt.Errorf("no string key column %q (columns: %s)", c.Key, fieldNames(schema))
		}
	}
	return idx, nil
}

func fieldNames(s *arrow.Schema) string {
	var out string
	for i, f := range s.Fields() {
		if i > 0 {
			out += ", "
		}
		out += f.Name
	}
	return out
}

func isBinary(t arrow.DataType) bool {
	return t.ID() == arrow.BINARY || t.ID() == arrow.LARGE_BINARY
}

func isString(t arrow.DataType) bool {
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

// readColumn reads one column of one row group, turning reader panics into errors.
func readColumn(ctx context.Context, fr *pqarrow.FileReader, g, col int) (ch *arrow.Chunked, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return fr.RowGroup(g).Column(col).Read(ctx)
}

// binaryValues returns the byte strings of an image column chunk (binary or struct.bytes);
// nulls become nil.
func binaryValues(ch *arrow.Chunked, field int) ([][]byte, error) {
	var out [][]byte
	for _, a := range ch.Chunks() {
		if field >= 0 {
			st, ok := a.(*array.Struct)
			if !ok {
				return nil, fmt.Errorf("image column chunk is %T, want a struct", a)
			}
			a = st.Field(field)
		}
		v, _, ok := chunkValues[[]byte](a)
		if !ok {
			return nil, fmt.Errorf("image column chunk is %T, want binary", a)
		}
		out = append(out, v...)
	}
	return out, nil
}

func stringValues(ch *arrow.Chunked) ([]string, []bool, error) {
	var out []string
	var null []bool
	for _, a := range ch.Chunks() {
		v, n, ok := chunkValues[string](a)
		if !ok {
			return nil, nil, fmt.Errorf("column chunk is %T, want strings", a)
		}
		out, null = append(out, v...), append(null, n...)
	}
	return out, null, nil
}

// chunkValues returns the values of an array of T (binary or large binary for []byte, string or
// large string for string), the zero T for each null, and which are null; ok is false for an
// array of another type.
func chunkValues[T any](a arrow.Array) (values []T, null []bool, ok bool) {
	v, ok := a.(interface{ Value(int) T })
	if !ok {
		return nil, nil, false
	}
	values, null = make([]T, a.Len()), make([]bool, a.Len())
	for i := range a.Len() {
		if null[i] = a.IsNull(i); !null[i] {
			values[i] = v.Value(i)
		}
	}
	return values, null, true
}

// rowGroupCache keeps the image bytes of the last row group read, so that the items of a batch,
// mostly from one row group, read it once.
type rowGroupCache struct {
	src    Parquet
	mu     sync.Mutex
	group  int
	images [][]byte
}

func (c *rowGroupCache) image(g, row int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.images == nil || c.group != g {
		f, fr, idx, err := c.src.open()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ch, err := readColumn(context.Background(), fr, g, idx.image)
		if err != nil {
			return nil, fmt.Errorf("dataset %s row group %d: %w", c.src.Path, g, err)
		}
		imgs, err := binaryValues(ch, idx.imageField)
		ch.Release()
		if err != nil {
			return nil, fmt.Errorf("dataset %s row group %d: %w", c.src.Path, g, err)
		}
		c.group, c.images = g, imgs
	}
	if row >= len(c.images) {
		return nil, fmt.Errorf("dataset %s row group %d has %d rows, not %d", c.src.Path, g, len(c.images), row+1)
	}
	return c.images[row], nil
}

// Items implements Source: it reads the file one row group at a time, keeping captions, keys and
// image sizes; image bytes are read again when an item is loaded.
func (s Parquet) Items(ctx context.Context) ([]Item, error) {
	f, fr, idx, err := s.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cache := &rowGroupCache{src: s}
	var items []Item
	row := 0
	for g := range fr.ParquetReader().NumRowGroups() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		where := fmt.Sprintf("dataset %s row group %d", s.Path, g)
		ch, err := readColumn(ctx, fr, g, idx.image)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		imgs, err := binaryValues(ch, idx.imageField)
		ch.Release()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		ch, err = readColumn(ctx, fr, g, idx.caption)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		caps, capNull, err := stringValues(ch)
		ch.Release()
		if err != nil {
			return nil, fmt.Errorf("%s: caption: %w", where, err)
		}
		var keys []string
		var keyNull []bool
		if idx.key >= 0 {
			ch, err = readColumn(ctx, fr, g, idx.key)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			keys, keyNull, err = stringValues(ch)
			ch.Release()
			if err != nil {
				return nil, fmt.Errorf("%s: key: %w", where, err)
			}
		}
		if len(caps) != len(imgs) || (keys != nil && len(keys) != len(imgs)) {
			return nil, fmt.Errorf("%s: columns have %d images, %d captions, %d keys", where, len(imgs), len(caps), len(keys))
		}
		for i, b := range imgs {
			origin := fmt.Sprintf("%s#%d", s.Path, row)
			if b == nil {
				return nil, fmt.Errorf("%s: null image", origin)
			}
			if capNull[i] {
				return nil, fmt.Errorf("%s: null caption", origin)
			}
			key := fmt.Sprintf("row-%08d", row)
			if keys != nil {
				if keyNull[i] || keys[i] == "" {
					return nil, fmt.Errorf("%s: null or empty key", origin)
				}
				key = keys[i]
			}
			it, err := bytesItem(key, caps[i], origin, b)
			if err != nil {
				return nil, err
			}
			gg, ii := g, i
			it.load = func() (*imaging.RGB8, error) {
				b, err := cache.image(gg, ii)
				if err != nil {
					return nil, err
				}
				m, err := imaging.Decode(bytesReader(b))
				return m, err
			}
			items = append(items, it)
			row++
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("dataset %s: no rows", s.Path)
	}
	return items, checkKeys(items)
}
