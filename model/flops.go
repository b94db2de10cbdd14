package model

// ForwardFLOPs estimates the floating-point operations of one forward pass for one sample
// with a latent of side latentSide and captionLen text tokens (a multiply-add counts 2). It
// counts the matrix products, the linear and cross attention and the depthwise convolution;
// element-wise work (norms, activations, modulation) is left out. A backward pass costs about
// twice as much.
func ForwardFLOPs(cfg Config, latentSide, captionLen int) float64 {
	cfg, err := cfg.Resolved()
	if err != nil {
		return 0
	}
	N := float64(cfg.Tokens(latentSide))
	L := float64(captionLen)
	D := float64(cfg.HiddenSize)
	Dc := float64(cfg.CaptionDim)
	Hd := float64(cfg.FFNHidden())
	d := float64(cfg.SelfHeadDim)
	pc := float64(cfg.PatchSize * cfg.PatchSize * cfg.InChannels)

	f := 2 * N * pc * D                            // patch embedding
	f += 2 * L * (Dc*D + D*D)                      // caption projection
	f += 2 * (sinusoidWidth*D + D*D + 6*D*D)       // time MLP and t_block
	perBlock := 4 * 2 * N * D * D                  // self-attention q, k, v, out
	perBlock += 2*2*N*D*d + 2*N*D                  // kᵀv, q·(kᵀv), q·Σk
	perBlock += 2*2*N*D*D + 2*2*L*D*D              // cross q, out; k, v
	perBlock += 2 * 2 * N * L * D                  // logits and attention·v
	perBlock += 2*N*D*2*Hd + 2*9*N*2*Hd + 2*N*Hd*D // Mix-FFN
	f += float64(cfg.Depth) * perBlock
	f += 2 * N * D * pc // output projection
	return f
}
