package caption

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config is the text-encoder section of a SANA config (text_encoder: in the reference YAML).
type Config struct {
	// TextEncoderName names the encoder ("gemma-2-2b-it"); only Gemma-2 models are supported.
	TextEncoderName string `mapstructure:"text_encoder_name"`
	// ModelMaxLength is L, the number of caption tokens kept (300).
	ModelMaxLength int `mapstructure:"model_max_length"`
	// ChiPrompt is the complex human instruction, one entry per line; the lines are joined
	// with "\n" and prepended to every prompt. Empty: no instruction.
	ChiPrompt []string `mapstructure:"chi_prompt"`
	// CaptionChannels is the encoder's hidden size D (2304 for Gemma-2-2B).
	CaptionChannels int `mapstructure:"caption_channels"`
}

// SanaChiPrompt is SANA's complex human instruction, the chi_prompt list of the SANA and
// SANA-Sprint configs (e.g. SanaSprint_1600M_1024px_allqknorm_bf16_scm_ladd.yaml). The last
// line ends with a space, so the prompt follows "User Prompt: " directly.
var SanaChiPrompt = []string{
	`Given a user prompt, generate an "Enhanced prompt" that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:`,
	`- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.`,
	`- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.`,
	`Here are examples of how to transform or refine prompts:`,
	`- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.`,
	`- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.`,
	`Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:`,
	`User Prompt: `,
}

// DefaultConfig is SANA-Sprint's text encoder: gemma-2-2b-it, 300 tokens, SANA's instruction,
// 2304 channels.
func DefaultConfig() Config {
	return Config{
		TextEncoderName: "gemma-2-2b-it",
		ModelMaxLength:  300,
		ChiPrompt:       slices.Clone(SanaChiPrompt),
		CaptionChannels: 2304,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if !strings.Contains(strings.ToLower(c.TextEncoderName), "gemma-2") {
		errs = append(errs, fmt.Errorf("text_encoder_name %q: only Gemma-2 encoders (gemma-2-2b-it) are supported", c.TextEncoderName))
	}
	if c.ModelMaxLength < 2 {
		errs = append(errs, fmt.Errorf("model_max_length = %d, want >= 2 (<bos> and at least one prompt position)", c.ModelMaxLength))
	}
	if c.CaptionChannels <= 0 {
		errs = append(errs, fmt.Errorf("caption_channels = %d, want > 0", c.CaptionChannels))
	}
	return errors.Join(errs...)
}

// Instruction is the text prepended to every prompt: the ChiPrompt lines joined with "\n"
// ("" without an instruction).
func (c Config) Instruction() string { return strings.Join(c.ChiPrompt, "\n") }
