package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sprint-distill/sprint/caption"
	"github.com/sprint-distill/sprint/distill"
	"github.com/sprint-distill/sprint/internal/testfile"
	"github.com/sprint-distill/sprint/safetensors"
)

// tinyGemma is gemma's tiny model folder fixture (hidden size 8, 283-piece tokenizer).
var tinyGemma = filepath.Join("..", "..", "gemma", "testdata", "tiny")

func TestTextInfo(t *testing.T) {
	out, _, err := execute(t, "text", "info", "--weights", tinyGemma)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 layers, hidden 8, 4 query heads sharing 2 key/value heads of 4", "sliding window 3 on layers 0,2",
		"attention soft-cap 2.5", "total                  4,384", "35 tensors (35 Float32), all match config.json",
		"tokenizer: 283 pieces, <bos> 2, <pad> 0", "keeps 300 positions"} {
		if !strings.Contains(out, want) {
			t.Errorf("text info lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := execute(t, "text", "info", "--weights", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "google/gemma-2-2b-it") {
		t.Errorf("missing folder: %v", err)
	}
}

// TestTextEncode writes embeddings and the null caption with the CLI and compares them with
// caption.Encoder's output on the same folder.
func TestTextEncode(t *testing.T) {
	dir := t.TempDir()
	ins := testfile.Write(t, dir, "instruction.txt", "hello\nworld: \n")
	prompts := testfile.Write(t, dir, "prompts.txt", "a red circle\r\nhello  world\nlll\n")
	out, null := filepath.Join(dir, "out", "emb.safetensors"), filepath.Join(dir, "null_embedding.safetensors")
	stdout, stderr, err := execute(t, "text", "encode", "--weights", tinyGemma, "--prompts", prompts, "--out", out,
		"--null-out", null, "--max-length", "6", "--instruction-file", ins, "--batch", "2", "--weights-dtype", "float32")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "encoded 3/3 prompts") || !strings.Contains(stdout, "text_embedding [3 6 8] Float32") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}
	got, md, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	emb, mask := got[textEmbeddingKey], got[textMaskKey]
	if emb == nil || mask == nil || !slices.Equal(emb.Shape().Dimensions, []int{3, 6, 8}) || !slices.Equal(mask.Shape().Dimensions, []int{3, 6}) ||
		mask.DType() != dtypes.Float32 {
		t.Fatalf("out: %v", got)
	}
	if md["sprint.prompts"] != `["a red circle","hello  world","lll"]` || md["sprint.soft_cap"] != "true" || md["sprint.instruction"] != "hello\nworld: " {
		t.Errorf("metadata %v", md)
	}

	// The same through the package API.
	ccfg := caption.DefaultConfig()
	ccfg.ModelMaxLength, ccfg.CaptionChannels, ccfg.ChiPrompt = 6, 8, []string{"hello", "world: "}
	backend, err := newBackend()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := caption.Open(backend, tinyGemma, ccfg, caption.OpenOptions{DType: dtypes.Float32})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	wantEmb, wantMask, err := enc.Encode(context.Background(), []string{"a red circle", "hello  world", "lll"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tensors.MustCopyFlatData[float32](emb), tensors.MustCopyFlatData[float32](wantEmb)) ||
		!slices.Equal(tensors.MustCopyFlatData[float32](mask), tensors.MustCopyFlatData[float32](wantMask)) {
		t.Error("CLI output differs from caption.Encoder.Encode")
	}

	nt, _, err := safetensors.ReadFile(null)
	if err != nil {
		t.Fatal(err)
	}
	ne := nt[distill.NullEmbedding]
	if ne == nil || !slices.Equal(ne.Shape().Dimensions, []int{6, 8}) || ne.DType() != dtypes.Float32 {
		t.Fatalf("null file: %v", nt)
	}
	if nm := tensors.MustCopyFlatData[float32](nt[nullMaskKey]); !slices.Equal(nm, []float32{1, 0, 0, 0, 0, 0}) {
		t.Errorf("null mask %v", nm)
	}
	wantNull, _, err := enc.EncodeNull(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tensors.MustCopyFlatData[float32](ne), tensors.MustCopyFlatData[float32](wantNull)) {
		t.Error("null embedding differs from caption.Encoder.EncodeNull")
	}

	// bfloat16 output and --no-softcap.
	bf := filepath.Join(dir, "bf16.safetensors")
	if _, stderr, err := execute(t, "text", "encode", "--weights", tinyGemma, "--prompt", "lll", "--out", bf,
		"--max-length", "6", "--no-instruction", "--dtype", "bfloat16", "--no-softcap"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	bt, bmd, err := safetensors.ReadFile(bf)
	if err != nil || bt[textEmbeddingKey].DType() != dtypes.BFloat16 || bmd["sprint.soft_cap"] != "false" ||
		bmd["sprint.instruction_tokens"] != "0" || bmd["sprint.weights_dtype"] != "bfloat16" {
		t.Errorf("bfloat16 file: %v %v %v", err, bt, bmd)
	}
}

func TestTextEncodeErrors(t *testing.T) {
	dir := t.TempDir()
	empty := testfile.Write(t, dir, "p.txt", "one\n\nthree\n")
	out := filepath.Join(dir, "o.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--prompt", "x", "--out", out}, "--weights"},
		{[]string{"--weights", tinyGemma, "--prompt", "x"}, "--out"},
		{[]string{"--weights", tinyGemma, "--out", out}, "no prompts"},
		{[]string{"--weights", tinyGemma, "--prompts", empty, "--out", out}, "line 2 is empty"},
		{[]string{"--weights", tinyGemma, "--prompt", "x", "--prompts", empty, "--out", out}, "give prompts one way"},
		{[]string{"--weights", tinyGemma, "--prompt", "x", "--out", out, "--dtype", "int8"}, `--dtype "int8"`},
		{[]string{"--weights", tinyGemma, "--prompt", "x", "--out", out, "--weights-dtype", "f16"}, `--weights-dtype "f16"`},
		{[]string{"--weights", tinyGemma, "--prompt", "x", "--out", out, "--max-length", "1"}, "--max-length 1"},
		{[]string{"--weights", filepath.Join(dir, "gemma"), "--prompt", "x", "--out", out}, "google/gemma-2-2b-it"},
	} {
		_, _, err := execute(t, append([]string{"text", "encode"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an output file was written despite the errors")
	}
}
