package data

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/gomlx/compute/dtypes"
)

// SchemaVersion is the value of the MetaVersion key in every shard this package writes.
const SchemaVersion = "sprint-shard/1"

// Column names of a shard. See the package documentation for their types.
const (
	ColKey           = "key"
	ColPrompt        = "prompt"
	ColLatent        = "latent"
	ColTextEmbedding = "text_embedding"
	ColTextMask      = "text_mask"
	ColCategory      = "category"
	ColWidth         = "width"
	ColHeight        = "height"
	ColMeta          = "meta"
	// ColControl is the optional control latent of a ControlNet dataset (control.go).
	ColControl = "control"
)

// Keys of the schema-level metadata of a shard. See the package documentation.
const (
	MetaVersion     = "sprint.version"
	MetaLatentDType = "sprint.latent.dtype"
	MetaLatentShape = "sprint.latent.shape"
	MetaTextDType   = "sprint.text_embedding.dtype"
	MetaTextShape   = "sprint.text_embedding.shape"
	MetaGroupRows   = "sprint.group_rows"
	// MetaShapesConfig holds the JSON ShapesConfig of a shapes dataset shard.
	MetaShapesConfig = "sprint.shapes.config"
)

// Format is the container of a shard file.
type Format string

// The shard containers.
const (
	// FormatParquet is Apache Parquet written through arrow's pqarrow; a group is a row group.
	FormatParquet Format = "parquet"
	// FormatArrow is the Arrow IPC file format (random access, "Feather v2"); a group is a record batch.
	FormatArrow Format = "arrow"
)

// ParseFormat returns the Format named s ("parquet" or "arrow").
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(strings.TrimSpace(s))) {
	case FormatParquet:
		return FormatParquet, nil
	case FormatArrow:
		return FormatArrow, nil
	}
	return "", fmt.Errorf("unknown shard format %q: want %q or %q", s, FormatParquet, FormatArrow)
}

// Ext is the file extension (with the dot) of shards of this format.
func (f Format) Ext() string {
	if f == FormatArrow {
		return ".arrow"
	}
	return ".parquet"
}

// FormatFromPath guesses a format from a file extension (".parquet", ".pq", ".arrow", ".ipc", ".feather").
func FormatFromPath(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return FormatParquet, true
	case ".arrow", ".ipc", ".feather":
		return FormatArrow, true
	}
	return "", false
}

// ParseDType parses the storage/output dtype names used in shards and configs:
// "float32", "float16" and "bfloat16" (also "f32", "fp32", "f16", "fp16", "half", "bf16").
func ParseDType(s string) (dtypes.DType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "float32", "f32", "fp32":
		return dtypes.Float32, nil
	case "float16", "f16", "fp16", "half":
		return dtypes.Float16, nil
	case "bfloat16", "bf16":
		return dtypes.BFloat16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("unsupported dtype %q: want float32, float16 or bfloat16", s)
}

// DTypeName is the name of a supported dtype as written in shard metadata ("float32", "float16",
// "bfloat16"); other dtypes get their GoMLX name.
func DTypeName(dt dtypes.DType) string {
	switch dt {
	case dtypes.Float32:
		return "float32"
	case dtypes.Float16:
		return "float16"
	case dtypes.BFloat16:
		return "bfloat16"
	}
	return dt.String()
}

func checkFloatDType(dt dtypes.DType) error {
	switch dt {
	case dtypes.Float32, dtypes.Float16, dtypes.BFloat16:
		return nil
	}
	return fmt.Errorf("unsupported dtype %s: want float32, float16 or bfloat16", dt)
}

// defaultFloatDTypes sets the latent and text dtypes that are unset to float32 and checks
// both (checkFloatDType); its errors name them "latent <what>" and "text <what>".
func defaultFloatDTypes(latent, text *dtypes.DType, what string) error {
	for _, d := range []struct {
		dt   *dtypes.DType
		name string
	}{{latent, "latent"}, {text, "text"}} {
		if *d.dt == dtypes.InvalidDType {
			*d.dt = dtypes.Float32
		}
		if err := checkFloatDType(*d.dt); err != nil {
			return fmt.Errorf("%s %s: %w", d.name, what, err)
		}
	}
	return nil
}

// Layout is the tensor part of a shard's schema: the dtype and per-row shape of the latent and of the
// text embedding. All rows of a shard share one Layout; the text mask has TextShape[0] entries.
type Layout struct {
	LatentDType dtypes.DType
	// LatentShape is (C, H, W).
	LatentShape [3]int
	TextDType   dtypes.DType
	// TextShape is (L, D): L tokens of D features.
	TextShape [2]int
	// Control says that every row has a control latent (column "control"), stored like the
	// latent: the same dtype and shape (see control.go).
	Control bool
}

// LatentBytes is the stored size in bytes of one row's latent.
func (l Layout) LatentBytes() int {
	return l.LatentShape[0] * l.LatentShape[1] * l.LatentShape[2] * l.LatentDType.Size()
}

// TextBytes is the stored size in bytes of one row's text embedding.
func (l Layout) TextBytes() int { return l.TextShape[0] * l.TextShape[1] * l.TextDType.Size() }

// RowBytes is the stored tensor payload of one row (latent, text embedding, mask and control).
func (l Layout) RowBytes() int {
	return l.LatentBytes() + l.TextBytes() + l.TextShape[0] + l.ControlBytes()
}

// Validate checks dtypes and dimensions.
func (l Layout) Validate() error {
	if err := checkFloatDType(l.LatentDType); err != nil {
		return fmt.Errorf("latent: %w", err)
	}
	if err := checkFloatDType(l.TextDType); err != nil {
		return fmt.Errorf("text_embedding: %w", err)
	}
	for i, d := range l.LatentShape {
		if d <= 0 {
			return fmt.Errorf("latent shape %v: dimension %d must be > 0", l.LatentShape, i)
		}
	}
	for i, d := range l.TextShape {
		if d <= 0 {
			return fmt.Errorf("text_embedding shape %v: dimension %d must be > 0", l.TextShape, i)
		}
	}
	return nil
}

// String is a compact description such as "latent float32[12 16 16] text float32[16 32]".
func (l Layout) String() string {
	return fmt.Sprintf("latent %s%v text %s%v%s", DTypeName(l.LatentDType), l.LatentShape[:],
		DTypeName(l.TextDType), l.TextShape[:], l.controlString())
}

// metadata returns the schema-level metadata describing l (without the group size).
func (l Layout) metadata(groupRows int, extra map[string]string) arrow.Metadata {
	keys := []string{MetaVersion, MetaLatentDType, MetaLatentShape, MetaTextDType, MetaTextShape}
	vals := []string{SchemaVersion, DTypeName(l.LatentDType), joinInts(l.LatentShape[:]),
		DTypeName(l.TextDType), joinInts(l.TextShape[:])}
	if groupRows > 0 {
		keys = append(keys, MetaGroupRows)
		vals = append(vals, strconv.Itoa(groupRows))
	}
	extraKeys := make([]string, 0, len(extra))
	for k := range extra {
		extraKeys = append(extraKeys, k)
	}
	sort.Strings(extraKeys)
	for _, k := range extraKeys {
		keys = append(keys, k)
		vals = append(vals, extra[k])
	}
	return arrow.NewMetadata(keys, vals)
}

// layoutFromMetadata parses the sprint.* keys of a schema.
func layoutFromMetadata(md arrow.Metadata) (Layout, error) {
	var l Layout
	get := func(key string) (string, error) {
		i := md.FindKey(key)
		if i < 0 {
			return "", fmt.Errorf("schema metadata: missing key %q", key)
		}
		return md.Values()[i], nil
	}
	if v, err := get(MetaVersion); err != nil {
		return l, err
	} else if v != SchemaVersion {
		return l, fmt.Errorf("schema metadata %s=%q: want %q", MetaVersion, v, SchemaVersion)
	}
	for _, item := range []struct {
		key  string
		dt   *dtypes.DType
		dims []int
	}{
		{MetaLatentDType, &l.LatentDType, nil},
		{MetaLatentShape, nil, l.LatentShape[:]},
		{MetaTextDType, &l.TextDType, nil},
		{MetaTextShape, nil, l.TextShape[:]},
	} {
		v, err := get(item.key)
		if err != nil {
			return l, err
		}
		if item.dt != nil {
			dt, err := ParseDType(v)
			if err != nil {
				return l, fmt.Errorf("schema metadata %s: %w", item.key, err)
			}
			*item.dt = dt
			continue
		}
		dims, err := parseInts(v)
		if err != nil || len(dims) != len(item.dims) {
			return l, fmt.Errorf("schema metadata %s=%q: want %d comma-separated positive integers",
				item.key, v, len(item.dims))
		}
		copy(item.dims, dims)
	}
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("schema metadata: %w", err)
	}
	return l, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// arrowSchema is the schema this package writes for a Layout.
func arrowSchema(l Layout, groupRows int, extra map[string]string) *arrow.Schema {
	md := l.metadata(groupRows, extra)
	return arrow.NewSchema(withControlField(l, []arrow.Field{
		{Name: ColKey, Type: arrow.BinaryTypes.String},
		{Name: ColPrompt, Type: arrow.BinaryTypes.String},
		{Name: ColLatent, Type: arrow.BinaryTypes.Binary},
		{Name: ColTextEmbedding, Type: arrow.BinaryTypes.Binary},
		{Name: ColTextMask, Type: arrow.BinaryTypes.Binary},
		{Name: ColCategory, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: ColWidth, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: ColHeight, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: ColMeta, Type: arrow.BinaryTypes.String, Nullable: true},
	}), &md)
}

// columnKind classifies what arrow types a column accepts on read.
type columnKind int

const (
	kindString columnKind = iota
	kindBinary
	kindInt
)

type columnSpec struct {
	name     string
	kind     columnKind
	required bool
}

var columnSpecs = []columnSpec{
	{ColKey, kindString, true},
	{ColPrompt, kindString, true},
	{ColLatent, kindBinary, true},
	{ColTextEmbedding, kindBinary, true},
	{ColTextMask, kindBinary, true},
	{ColCategory, kindString, false},
	{ColWidth, kindInt, false},
	{ColHeight, kindInt, false},
	{ColMeta, kindString, false},
	{ColControl, kindBinary, false},
}

func (k columnKind) accepts(dt arrow.DataType) bool {
	switch k {
	case kindString:
		return dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING
	case kindBinary:
		return dt.ID() == arrow.BINARY || dt.ID() == arrow.LARGE_BINARY || dt.ID() == arrow.FIXED_SIZE_BINARY
	case kindInt:
		return dt.ID() == arrow.INT32 || dt.ID() == arrow.INT64
	}
	return false
}

func (k columnKind) String() string {
	switch k {
	case kindString:
		return "string (utf8 or large_utf8)"
	case kindBinary:
		return "binary (binary, large_binary or fixed_size_binary)"
	default:
		return "integer (int32 or int64)"
	}
}

// checkSchema validates the columns of a shard schema against the layout and returns, for each entry
// of columnSpecs, the column's index in the schema (or -1 for an absent optional column).
func checkSchema(s *arrow.Schema, l Layout) ([]int, error) {
	idx := make([]int, len(columnSpecs))
	for i, spec := range columnSpecs {
		found := s.FieldIndices(spec.name)
		if len(found) == 0 {
			if spec.required {
				return nil, fmt.Errorf("schema: missing column %q", spec.name)
			}
			idx[i] = -1
			continue
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("schema: column %q appears %d times", spec.name, len(found))
		}
		f := s.Field(found[0])
		if !spec.kind.accepts(f.Type) {
			return nil, fmt.Errorf("schema: column %q has type %s, want %s", spec.name, f.Type, spec.kind)
		}
		if fsb, ok := f.Type.(*arrow.FixedSizeBinaryType); ok {
			want := map[string]int{ColLatent: l.LatentBytes(), ColTextEmbedding: l.TextBytes(), ColTextMask: l.TextShape[0], ColControl: l.LatentBytes()}[spec.name]
			if fsb.ByteWidth != want {
				return nil, fmt.Errorf("schema: column %q is fixed_size_binary[%d], want %d bytes for %s",
					spec.name, fsb.ByteWidth, want, l)
			}
		}
		idx[i] = found[0]
	}
	return idx, nil
}
