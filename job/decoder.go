package job

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/sprint-distill/sprint/decode"
	"github.com/sprint-distill/sprint/vae"
)

// DecoderDCAE names the DC-AE decoder in OpenDecoder.
const DecoderDCAE = "dcae"

// OpenDecoder returns the decode stage a flag or config names: "shapes", "preview", or "dcae"
// with the DC-AE diffusers folder vaeDir (latents in SANA's scaled space: z/scaling_factor is
// decoded, tiled when large). An empty name means dcae when vaeDir is given, else shapes.
// close releases the DC-AE.
func OpenDecoder(backend compute.Backend, name, vaeDir string) (dec decode.Decoder, close func(), err error) {
	close = func() {}
	if name == "" {
		name = "shapes"
		if vaeDir != "" {
			name = DecoderDCAE
		}
	}
	if name != DecoderDCAE {
		if vaeDir != "" {
			return nil, close, fmt.Errorf("a DC-AE folder (%s) was given but the decoder is %q: use the dcae decoder", vaeDir, name)
		}
		d, err := decode.ByName(name)
		if err != nil {
			return nil, close, fmt.Errorf("%w, or %s with a DC-AE folder", err, DecoderDCAE)
		}
		return d, close, nil
	}
	if vaeDir == "" {
		return nil, close, fmt.Errorf("the %s decoder needs the DC-AE folder (e.g. mit-han-lab/dc-ae-f32c32-sana-1.1-diffusers downloaded locally)", DecoderDCAE)
	}
	m, err := vae.Open(backend, vaeDir, vae.DecoderPart)
	if err != nil {
		return nil, close, err
	}
	return vae.NewImageDecoder(m), m.Finalize, nil
}
