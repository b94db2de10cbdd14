package logging

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// TensorBoard event files are TFRecord files of serialized tensorflow.Event protobufs:
//
//	record := uint64 length (little-endian) | uint32 masked_crc32c(length bytes)
//	        | data[length] | uint32 masked_crc32c(data)
//	masked_crc32c(x) := rotate_right(crc32c(x), 15) + 0xa282ead8
//
// The messages used, from tensorflow/core/util/event.proto and framework/summary.proto:
//
//	Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//	Summary { repeated Value value = 1; }
//	Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//	Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//
// encoded here by hand with the protobuf wire format (varint, 64-bit, length-delimited, 32-bit).

// Protobuf wire types.
const (
	wireVarint = 0
	wire64Bit  = 1
	wireBytes  = 2
	wire32Bit  = 5
)

// Field numbers of the messages above.
const (
	eventWallTime    = 1
	eventStep        = 2
	eventFileVersion = 3
	eventSummary     = 5

	summaryValue = 1

	valueTag         = 1
	valueSimpleValue = 2
	valueImage       = 4

	imageHeight     = 1
	imageWidth      = 2
	imageColorspace = 3
	imageEncoded    = 4
)

// protoBuf accumulates one protobuf message.
type protoBuf []byte

func (b protoBuf) key(field, wire int) protoBuf {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

func (b protoBuf) varint(field int, v uint64) protoBuf {
	return binary.AppendUvarint(b.key(field, wireVarint), v)
}

func (b protoBuf) double(field int, v float64) protoBuf {
	return binary.LittleEndian.AppendUint64(b.key(field, wire64Bit), math.Float64bits(v))
}

func (b protoBuf) float(field int, v float32) protoBuf {
	return binary.LittleEndian.AppendUint32(b.key(field, wire32Bit), math.Float32bits(v))
}

func (b protoBuf) bytes(field int, v []byte) protoBuf {
	b = binary.AppendUvarint(b.key(field, wireBytes), uint64(len(v)))
	return append(b, v...)
}

// event encodes an Event; exactly one of fileVersion and summary is set.
func event(wallTime float64, step int64, fileVersion string, summary protoBuf) []byte {
	var b protoBuf
	b = b.double(eventWallTime, wallTime)
	b = b.varint(eventStep, uint64(step))
	if fileVersion != "" {
		b = b.bytes(eventFileVersion, []byte(fileVersion))
	}
	if summary != nil {
		b = b.bytes(eventSummary, summary)
	}
	return b
}

// scalarValue encodes a Summary.Value with a simple_value.
func scalarValue(tag string, v float64) protoBuf {
	var b protoBuf
	b = b.bytes(valueTag, []byte(tag))
	return b.float(valueSimpleValue, float32(v))
}

// imageValue encodes a Summary.Value with a PNG image; colorspace is 3 (RGB) or 4 (RGBA),
// as Go's PNG encoder writes opaque and translucent images.
func imageValue(tag string, width, height, colorspace int, pngData []byte) protoBuf {
	var img protoBuf
	img = img.varint(imageHeight, uint64(height))
	img = img.varint(imageWidth, uint64(width))
	img = img.varint(imageColorspace, uint64(colorspace))
	img = img.bytes(imageEncoded, pngData)
	var b protoBuf
	b = b.bytes(valueTag, []byte(tag))
	return b.bytes(valueImage, img)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC32C is TFRecord's checksum: the CRC-32C, rotated right by 15 bits, plus a constant.
func MaskedCRC32C(data []byte) uint32 {
	c := crc32.Checksum(data, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// writeRecord frames data as one TFRecord.
func writeRecord(w io.Writer, data []byte) error {
	var header [12]byte
	binary.LittleEndian.PutUint64(header[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(header[8:], MaskedCRC32C(header[:8]))
	var footer [4]byte
	binary.LittleEndian.PutUint32(footer[:], MaskedCRC32C(data))
	if _, err := w.Write(header[:]); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(footer[:])
	return err
}

// TensorBoard writes scalars and images to a TensorBoard event file
// (events.out.tfevents.<unix time>.<host>.<pid>[.n]) in a folder. Each process writes its own
// file; TensorBoard merges the files of a folder, so a resumed run continues its curves.
type TensorBoard struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	now  func() time.Time
	path string
}

// NewTensorBoard creates a new event file in dir and writes its file_version event.
func NewTensorBoard(dir string) (*TensorBoard, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	now := time.Now()
	base := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%d", now.Unix(), host, os.Getpid()))
	path := base
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	for i := 1; errors.Is(err, os.ErrExist) && i < 100; i++ { // several runs in one process and second
		path = fmt.Sprintf("%s.%d", base, i)
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	tb := &TensorBoard{f: f, w: bufio.NewWriter(f), now: time.Now, path: path}
	if err := tb.write(event(wallTime(now), 0, "brain.Event:2", nil)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return tb, nil
}

// Path returns the event file's path.
func (tb *TensorBoard) Path() string { return tb.path }

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (tb *TensorBoard) write(records ...[]byte) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, r := range records {
		if err := writeRecord(tb.w, r); err != nil {
			return fmt.Errorf("tensorboard %s: %w", tb.path, err)
		}
	}
	if err := tb.w.Flush(); err != nil {
		return fmt.Errorf("tensorboard %s: %w", tb.path, err)
	}
	return nil
}

// Scalars implements Sink: one event with one simple_value per scalar, in name order.
func (tb *TensorBoard) Scalars(step int64, values map[string]float64) error {
	if len(values) == 0 {
		return nil
	}
	var summary protoBuf
	for _, k := range slices.Sorted(maps.Keys(values)) {
		summary = summary.bytes(summaryValue, scalarValue(k, values[k]))
	}
	return tb.write(event(wallTime(tb.now()), step, "", summary))
}

// Images implements Sink: one event per image, PNG-encoded.
func (tb *TensorBoard) Images(step int64, images map[string]image.Image) error {
	var records [][]byte
	for _, k := range slices.Sorted(maps.Keys(images)) {
		img := images[k]
		data, err := EncodePNG(img)
		if err != nil {
			return fmt.Errorf("tensorboard: image %q: %w", k, err)
		}
		b := img.Bounds()
		colorspace := 4
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			colorspace = 3
		}
		var summary protoBuf
		summary = summary.bytes(summaryValue, imageValue(k, b.Dx(), b.Dy(), colorspace, data))
		records = append(records, event(wallTime(tb.now()), step, "", summary))
	}
	return tb.write(records...)
}

// Close implements Sink.
func (tb *TensorBoard) Close() error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	ferr := tb.w.Flush()
	cerr := tb.f.Close()
	if ferr != nil {
		return fmt.Errorf("tensorboard %s: %w", tb.path, ferr)
	}
	if cerr != nil {
		return fmt.Errorf("tensorboard %s: %w", tb.path, cerr)
	}
	return nil
}
