package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// baseKey is the top-level key that names the file(s) a config inherits from, like the reference
// configs' `_base_`. Paths are relative to the file that names them.
const baseKey = "base"

// tree is a YAML document as nested maps, together with where every leaf came from.
type tree struct {
	values  map[string]any    // nested map[string]any; leaves are YAML scalars or lists
	origins map[string]string // dotted key -> file (or "--set", "env SPRINT_...") that set it last
}

// loadTree reads path and, recursively, the files it names under `base`, merging children over bases.
// stack holds the absolute paths being loaded, to detect cycles.
func loadTree(path string, stack []string) (*tree, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if i := slices.Index(stack, abs); i >= 0 {
		chain := append(slices.Clone(stack[i:]), abs)
		for j := range chain {
			chain[j] = filepath.Base(chain[j])
		}
		return nil, fmt.Errorf("config %s: base cycle: %s", path, strings.Join(chain, " -> "))
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s: file not found", path)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	own, err := parseTree(b, path)
	if err != nil {
		return nil, err
	}
	values := own.values

	bases, err := baseList(values[baseKey], path)
	if err != nil {
		return nil, err
	}
	delete(values, baseKey)
	delete(own.origins, baseKey)
	merged := &tree{values: map[string]any{}, origins: map[string]string{}}
	for _, b := range bases {
		bp := b
		if !filepath.IsAbs(bp) {
			bp = filepath.Join(filepath.Dir(path), bp)
		}
		if _, err := os.Stat(bp); err != nil && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s: base file %q not found (looked for %s)", path, b, bp)
		}
		bt, err := loadTree(bp, append(stack, abs))
		if err != nil {
			return nil, err
		}
		merged.merge(bt)
	}
	merged.merge(own)
	return merged, nil
}

// parseTree reads one YAML document with viper; origin names it in errors and in the tree.
func parseTree(data []byte, origin string) (*tree, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("config %s: malformed YAML: %w", origin, unwrapViper(err))
	}
	t := &tree{values: v.AllSettings(), origins: map[string]string{}}
	recordOrigins(t.values, "", origin, t.origins)
	return t, nil
}

// unwrapViper keeps the YAML parser's message (with its line number) and drops viper's prefix.
func unwrapViper(err error) error {
	var pe viper.ConfigParseError
	if errors.As(err, &pe) {
		if u := pe.Unwrap(); u != nil {
			return u
		}
	}
	return err
}

func baseList(v any, path string) ([]string, error) {
	switch b := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{b}, nil
	case []any:
		out := make([]string, len(b))
		for i, e := range b {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("config %s: key %s[%d]: expected a file path (string), got %T", path, baseKey, i, e)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("config %s: key %s: expected a file path or a list of paths, got %T", path, baseKey, v)
	}
}

func recordOrigins(m map[string]any, prefix, origin string, out map[string]string) {
	for k, v := range m {
		key := joinKey(prefix, k)
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			recordOrigins(sub, key, origin, out)
			continue
		}
		out[key] = origin
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// merge deep-merges o over t: maps merge key by key, anything else replaces.
func (t *tree) merge(o *tree) {
	mergeMaps(t.values, o.values)
	for k, v := range o.origins {
		t.origins[k] = v
	}
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
			dst[k] = cloneMap(sm)
			continue
		}
		dst[k] = v
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sm, ok := v.(map[string]any); ok {
			out[k] = cloneMap(sm)
		} else {
			out[k] = v
		}
	}
	return out
}

// set places value at the dotted key, creating intermediate maps, and records its origin.
func (t *tree) set(key string, value any, origin string) {
	parts := strings.Split(key, ".")
	m := t.values
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = value
	t.origins[key] = origin
}

// parseScalar reads an override value as YAML, so that `--set a=[1,2]`, `--set b=true` and
// `--set c=1e-4` have their YAML meaning; anything unparsable stays a string.
func parseScalar(s string) any {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil || v == nil {
		return s
	}
	if _, isMap := v.(map[string]any); isMap {
		return s
	}
	return v
}
