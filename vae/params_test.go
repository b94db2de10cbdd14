package vae

import (
	"slices"
	"strings"
	"testing"
)

// TestParamCountTinyByHand counts a small config by hand and checks ParamSpecs against it.
//
// Config: in 3, latent 4, head dim 4, channels [4, 8], layers enc [1, 1] dec [1, 1],
// types [ResBlock, EfficientViTBlock], multiscales [[], [3]], stride-2 conv down, interpolate up.
//
// Encoder:
//
//	conv_in 3→4, 3×3 + bias:                          4·3·9 + 4           =   112
//	stage 0 ResBlock(4): conv1 4·4·9+4, conv2 4·4·9, norm 4+4            =   300
//	stage 0 down 4→8 stride-2 conv + bias:            8·4·9 + 8           =   296
//	stage 1 EViT(8), heads 2, inner 8:
//	  to_q/k/v 3·8·8 = 192; scale 0: proj_in 24·1·3·3 = 216, proj_out 24·4 = 96;
//	  to_out 8·16 = 128; norm_out 16                                     =   648
//	  GLUMBConv hidden 32: inverted 64·8+64 = 576, depth 64·9+64 = 640,
//	  point 8·32 = 256, norm 16                                          =  1488
//	conv_out 8→4 + bias:                              4·8·9 + 4           =   292
//	encoder total                                                        =  3136
//
// Decoder:
//
//	conv_in 4→8 + bias:                               8·4·9 + 8           =   296
//	stage 1 EViT(8)                                   648 + 1488          =  2136
//	stage 0 up 8→4 (interpolate: conv 8→4 + bias):    4·8·9 + 4           =   292
//	stage 0 ResBlock(4)                                                  =   300
//	norm_out 4+4                                                         =     8
//	conv_out 4→3 + bias:                              3·4·9 + 3           =   111
//	decoder total                                                        =  3143
func TestParamCountTinyByHand(t *testing.T) {
	c := tinyConfig()
	c.EncoderQKVMultiscales = [][]int{{}, {3}}
	c.DecoderQKVMultiscales = [][]int{{}, {3}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"encoder": 3136, "decoder": 3143, "total": 6279}
	groups := map[string]int64{"encoder/conv_in": 112, "encoder/stage 0": 596, "encoder/stage 1": 2136,
		"encoder/conv_out": 292, "decoder/conv_in": 296, "decoder/stage 1": 2136, "decoder/stage 0": 592,
		"decoder/norm_out": 8, "decoder/conv_out": 111}
	for _, cnt := range Counts(c) {
		if cnt.Group == "total" {
			if cnt.Params != want[cnt.Part] {
				t.Errorf("%s total %d, want %d", cnt.Part, cnt.Params, want[cnt.Part])
			}
			continue
		}
		if g := groups[cnt.Part+"/"+cnt.Group]; cnt.Params != g {
			t.Errorf("%s/%s: %d params, want %d", cnt.Part, cnt.Group, cnt.Params, g)
		}
	}
}

// TestReleasedConfigs builds the parameter table of every released DC-AE config and checks the
// totals, the number of tensors, and a sample of names and shapes against diffusers'
// module structure.
//
// The f32c32-sana total, 312,250,275 parameters, is 1,249,001,100 bytes in float32, which
// matches the 1.25 GB the Hub lists for mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers'
// diffusion_pytorch_model.safetensors (its exact byte size was not found to compare with). The
// other totals are this table's own, cross-checked only through the shared per-block formulas
// (the tiny config above is counted by hand).
func TestReleasedConfigs(t *testing.T) {
	for _, tc := range []struct {
		name              string
		enc, dec, buffers int64
		tensors           int
		keys              map[string][]int
		absent            []string
	}{
		{name: "dc-ae-f32c32-sana-1.1", enc: 153027104, dec: 159223171, tensors: 375, keys: map[string][]int{
			"encoder.conv_in.weight":                                           {128, 3, 3, 3},
			"encoder.down_blocks.0.2.conv.weight":                              {256, 128, 3, 3}, // stride-2 conv
			"encoder.down_blocks.3.2.attn.to_qkv_multiscale.0.proj_in.weight":  {1536, 1, 5, 5},
			"encoder.down_blocks.3.2.attn.to_qkv_multiscale.0.proj_out.weight": {1536, 32, 1, 1},
			"encoder.down_blocks.5.2.attn.to_out.weight":                       {1024, 2048},
			"encoder.down_blocks.5.2.conv_out.conv_inverted.weight":            {8192, 1024, 1, 1},
			"encoder.down_blocks.5.2.conv_out.conv_point.weight":               {1024, 4096, 1, 1},
			"encoder.conv_out.weight":                                          {32, 1024, 3, 3},
			"decoder.conv_in.weight":                                           {1024, 32, 3, 3},
			"decoder.up_blocks.4.0.conv.weight":                                {1024, 1024, 3, 3}, // interpolate + conv
			"decoder.up_blocks.4.3.attn.norm_out.bias":                         {1024},
			"decoder.up_blocks.0.3.conv2.weight":                               {128, 128, 3, 3},
			"decoder.norm_out.weight":                                          {128},
			"decoder.conv_out.weight":                                          {3, 128, 3, 3},
		}, absent: []string{"decoder.up_blocks.5.0.conv.weight", "decoder.up_blocks.0.4.conv1.weight"}},
		{name: "dc-ae-f32c32-in-1.0", enc: 123172384, dec: 200184076, buffers: 12800, tensors: 362, keys: map[string][]int{
			"encoder.conv_in.conv.weight":                {64, 3, 3, 3}, // conv + pixel unshuffle to 256
			"encoder.down_blocks.1.4.conv.weight":        {128, 256, 3, 3},
			"encoder.down_blocks.3.1.attn.to_out.weight": {512, 512},
			"decoder.up_blocks.1.0.conv.weight":          {1024, 512, 3, 3}, // conv + pixel shuffle to 256
			"decoder.up_blocks.2.10.norm.running_var":    {512},
			"decoder.norm_out.bias":                      {256},
			"decoder.conv_out.conv.weight":               {12, 256, 3, 3},
		}, absent: []string{"encoder.conv_in.weight", "decoder.up_blocks.0.0.conv.weight"}},
		{name: "dc-ae-f64c128-mix-1.0", enc: 264550528, dec: 412345612, buffers: 12800, tensors: 418, keys: map[string][]int{
			"encoder.down_blocks.6.1.conv_out.conv_depth.weight": {16384, 1, 3, 3},
			"encoder.conv_out.weight":                            {128, 2048, 3, 3},
			"decoder.conv_in.weight":                             {2048, 128, 3, 3},
		}},
		{name: "dc-ae-f128c512-in-1.0", enc: 415661056, dec: 705021196, buffers: 12800, tensors: 474, keys: map[string][]int{
			"encoder.down_blocks.6.2.conv.weight": {512, 2048, 3, 3},
			"encoder.conv_out.weight":             {512, 2048, 3, 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Preset(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			specs := ParamSpecs(c)
			if len(specs) != tc.tensors {
				t.Errorf("%d tensors, want %d", len(specs), tc.tensors)
			}
			byName := map[string][]int{}
			for _, s := range specs {
				if _, dup := byName[s.Name]; dup {
					t.Errorf("duplicate key %s", s.Name)
				}
				byName[s.Name] = s.Dims
				if !strings.HasPrefix(s.Name, s.Part+".") {
					t.Errorf("%s filed under part %s", s.Name, s.Part)
				}
			}
			for k, dims := range tc.keys {
				if got, ok := byName[k]; !ok || !slices.Equal(got, dims) {
					t.Errorf("%s: %v (present %v), want %v", k, got, ok, dims)
				}
			}
			for _, k := range tc.absent {
				if _, ok := byName[k]; ok {
					t.Errorf("%s should not exist", k)
				}
			}
			cs := Counts(c)
			var enc, dec, grand Count
			for _, x := range cs {
				switch {
				case x.Part == "encoder" && x.Group == "total":
					enc = x
				case x.Part == "decoder" && x.Group == "total":
					dec = x
				case x.Part == "total":
					grand = x
				}
			}
			if enc.Params != tc.enc || dec.Params != tc.dec || grand.Params != tc.enc+tc.dec || grand.Buffers != tc.buffers {
				t.Errorf("counts enc %d dec %d total %d buffers %d, want %d %d %d %d", enc.Params, dec.Params, grand.Params,
					grand.Buffers, tc.enc, tc.dec, tc.enc+tc.dec, tc.buffers)
			}
		})
	}
	// 1.0 and 1.1 share the architecture; the scaling factor of SANA's DC-AE is 0.41407.
	a, _ := Preset("mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers")
	if a.ScalingFactor != 0.41407 || len(ParamSpecs(a)) != 375 {
		t.Errorf("sana-1.0 preset: scaling %v, %d tensors", a.ScalingFactor, len(ParamSpecs(a)))
	}
	if _, err := Preset("dc-ae-f32c32-nope"); err == nil || !strings.Contains(err.Error(), "dc-ae-f32c32-sana-1.1") {
		t.Errorf("unknown preset: %v", err)
	}
}
