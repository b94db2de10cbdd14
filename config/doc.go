// Package config is sprint's one typed configuration tree: the Config struct that composes the
// sections owned by the model, data, distill, train and eval packages, and the strict YAML loader
// behind `sprint config` and every verb that takes --config.
//
// Loading starts from the defaults in code, then applies the YAML file and the files it inherits
// from (`base: other.yaml`, relative to the including file, cycles detected), then SPRINT_A_B_C
// environment variables, then `--set a.b.c=value` flags. Unknown keys and values of the wrong type
// are errors that name the key, the file (or override) that set it, and the closest known key.
//
// Files are read with viper; the strict decoding into structs is written here because it needs to
// know which file set each key to say so in its errors.
//
// It is not a place for behaviour: each section's meaning and validation live with its package.
package config
