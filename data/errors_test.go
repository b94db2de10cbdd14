package data

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/gomlx/compute/dtypes"
)

func nanValue() float64 { return math.NaN() }

func assertErrContains(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q\ndoes not contain %q", err, p)
		}
	}
}

// firstBatchErr opens paths and reads one epoch, returning the first error.
func firstBatchErr(paths []string, opts ReaderOptions) error {
	r, err := Open(paths, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	it, err := r.IterateEpoch(context.Background(), 0)
	if err != nil {
		return err
	}
	defer it.Close()
	for {
		if _, err := it.Next(); err != nil {
			return err
		}
	}
}

var testLayout = Layout{LatentDType: dtypes.Float32, LatentShape: [3]int{2, 3, 4}, TextDType: dtypes.Float32, TextShape: testText}

func TestOpenErrors(t *testing.T) {
	for _, format := range []Format{FormatParquet, FormatArrow} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			good := shardPath(dir, format, "good")
			goodRawShard(testLayout, 4).write(t, good, format)

			write := func(name string, edit func(rs *rawShard)) string {
				rs := goodRawShard(testLayout, 4)
				edit(rs)
				p := shardPath(dir, format, name)
				rs.write(t, p, format)
				return p
			}
			latentAsString := write("latent-string", func(rs *rawShard) {
				fs := rs.schema.Fields()
				fs[2].Type = arrow.BinaryTypes.String
				md := rs.schema.Metadata()
				rs.schema = arrow.NewSchema(fs, &md)
			})
			noMask := write("no-mask", func(rs *rawShard) {
				var fs []arrow.Field
				for _, f := range rs.schema.Fields() {
					if f.Name != ColTextMask {
						fs = append(fs, f)
					}
				}
				md := rs.schema.Metadata()
				rs.schema = arrow.NewSchema(fs, &md)
			})
			noMeta := write("no-metadata", func(rs *rawShard) {
				rs.schema = arrow.NewSchema(rs.schema.Fields(), nil)
			})
			otherText := shardPath(dir, format, "other-text")
			l2 := testLayout
			l2.TextShape = [2]int{5, 3}
			goodRawShard(l2, 3).write(t, otherText, format)
			fixedWrong := write("fixed-wrong", func(rs *rawShard) {
				fs := rs.schema.Fields()
				fs[2].Type = &arrow.FixedSizeBinaryType{ByteWidth: 96}
				md := rs.schema.Metadata()
				md = arrow.NewMetadata(append(md.Keys()[:0:0], md.Keys()...), append(md.Values()[:0:0], md.Values()...))
				vals := md.Values()
				vals[md.FindKey(MetaLatentShape)] = "2,3,5"
				rs.schema = arrow.NewSchema(fs, &md)
				for i := range rs.latent {
					rs.latent[i] = rs.latent[i][:96]
				}
			})

			data, err := os.ReadFile(good)
			if err != nil {
				t.Fatal(err)
			}
			truncated := shardPath(dir, format, "truncated")
			if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			footer := shardPath(dir, format, "corrupt-footer")
			bad := append([]byte(nil), data...)
			for i := len(bad) - 200; i < len(bad)-10; i++ {
				bad[i] ^= 0x5a
			}
			if err := os.WriteFile(footer, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			garbage := shardPath(dir, format, "garbage")
			if err := os.WriteFile(garbage, []byte(strings.Repeat("not a shard ", 10)), 0o644); err != nil {
				t.Fatal(err)
			}
			other := FormatArrow
			if format == FormatArrow {
				other = FormatParquet
			}

			for _, tc := range []struct {
				name  string
				paths []string
				opts  ReaderOptions
				want  []string
			}{
				{"missing file", []string{filepath.Join(dir, "absent"+format.Ext())}, ReaderOptions{},
					[]string{"absent" + format.Ext(), "no such file"}},
				{"glob matches nothing", []string{filepath.Join(dir, "none-*")}, ReaderOptions{},
					[]string{"none-*", "matches no files"}},
				{"column type", []string{latentAsString}, ReaderOptions{},
					[]string{latentAsString, `column "latent" has type utf8, want binary`}},
				{"missing column", []string{noMask}, ReaderOptions{},
					[]string{noMask, `missing column "text_mask"`}},
				{"missing metadata", []string{noMeta}, ReaderOptions{},
					[]string{noMeta, `missing key "sprint.version"`}},
				{"fixed size binary width", []string{fixedWrong}, ReaderOptions{},
					[]string{fixedWrong, `column "latent" is fixed_size_binary[96], want 120 bytes`}},
				{"text layout differs", []string{good, otherText}, ReaderOptions{},
					[]string{otherText, "text_embedding float32[5 3] differs", good}},
				{"format", []string{good}, ReaderOptions{Format: other},
					[]string{good, "file is " + string(format) + ", but the configured format is " + string(other)}},
				{"truncated", []string{truncated}, ReaderOptions{},
					[]string{truncated, "truncated"}},
				{"corrupt footer", []string{footer}, ReaderOptions{},
					[]string{footer}},
				{"garbage", []string{garbage}, ReaderOptions{},
					[]string{garbage, "not a parquet or arrow IPC file"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tc.opts.BatchSize = 2
					_, err := Open(tc.paths, tc.opts)
					assertErrContains(t, err, tc.want...)
				})
			}
		})
	}
}

func TestRowErrors(t *testing.T) {
	for _, format := range []Format{FormatParquet, FormatArrow} {
		t.Run(string(format), func(t *testing.T) {
			for _, tc := range []struct {
				name string
				edit func(rs *rawShard)
				want string
			}{
				{"wrong latent size", func(rs *rawShard) { rs.latent[2] = rs.latent[2][:80] },
					`row 2 (key "row-00002"): latent has 80 bytes, want 96 (float32 [2 3 4])`},
				{"wrong text size", func(rs *rawShard) { rs.text[3] = append(rs.text[3], 0, 0, 0, 0) },
					`row 3 (key "row-00003"): text_embedding has 52 bytes, want 48 (float32 [4 3])`},
				{"latent NaN", func(rs *rawShard) {
					binary.LittleEndian.PutUint32(rs.latent[1][4*7:], math.Float32bits(float32(math.NaN())))
				}, `row 1 (key "row-00001"): latent element 7 is NaN, want finite values`},
				{"text Inf", func(rs *rawShard) {
					binary.LittleEndian.PutUint32(rs.text[0][0:], math.Float32bits(float32(math.Inf(1))))
				}, `row 0 (key "row-00000"): text_embedding element 0 is +Inf, want finite values`},
				{"mask value", func(rs *rawShard) { rs.mask[2][1] = 2 },
					`row 2 (key "row-00002"): text_mask element 1 is 2, want 0 or 1`},
				{"mask length", func(rs *rawShard) { rs.mask[1] = rs.mask[1][:3] },
					`row 1 (key "row-00001"): text_mask has 3 bytes, want 4 (uint8 [4])`},
				{"null key", func(rs *rawShard) { rs.keys[3] = nil },
					`row 3: key is null or empty`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rs := goodRawShard(testLayout, 4)
					tc.edit(rs)
					p := shardPath(t.TempDir(), format, "bad")
					rs.write(t, p, format)
					for _, prefetch := range []int{0, 2} {
						err := firstBatchErr([]string{p}, ReaderOptions{BatchSize: 2, Prefetch: prefetch})
						assertErrContains(t, err, "shard "+p+" "+tc.want)
					}
					r := mustOpen(t, []string{p}, ReaderOptions{BatchSize: 1})
					rep, err := r.Verify(context.Background(), nil)
					if err != nil {
						t.Fatal(err)
					}
					if rep.OK() || rep.BadRows != 1 || rep.Rows != 3 || len(rep.Errors) != 1 {
						t.Fatalf("verify report %+v: want 1 bad row of 4", rep)
					}
					assertErrContains(t, errString(rep.Errors[0]), tc.want)
				})
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestCorruptGroup damages the data of a compressed shard (not its footer): reading the group must fail
// with an error naming the file and the rows of the group.
func TestCorruptGroup(t *testing.T) {
	for _, format := range []Format{FormatParquet, FormatArrow} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(dir, WriterOptions{Format: format, Compression: "zstd", GroupBytes: 1500})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 40; i++ {
				if err := w.Write(testRow(i, [3]int{2, 3, 4}, testText)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			path := w.Shards()[0].Path
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Damage data pages in the first third of the file (well before the footer).
			for i := len(data) / 3; i < len(data)/3+160; i++ {
				data[i] ^= 0xa5
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			err = firstBatchErr([]string{path}, ReaderOptions{BatchSize: 4, Prefetch: 1})
			assertErrContains(t, err, "shard "+path+" rows ", "(group ")
			r := mustOpen(t, []string{path}, ReaderOptions{BatchSize: 4})
			rep, err := r.Verify(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.BadGroups == 0 || rep.OK() {
				t.Fatalf("verify did not report the damaged group: %+v", rep)
			}
		})
	}
}
