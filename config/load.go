package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// EnvPrefix starts every environment override: SPRINT_TRAIN_MAX_STEPS=10 sets train.max_steps.
const EnvPrefix = "SPRINT_"

// ToolEnv are the SPRINT_* environment variables that are not config keys: SPRINT_DEBUG
// (print the stack of an internal error) and SPRINT_BIN (the binary scripts run). Any other
// SPRINT_* variable must name a key; a typo is an error, as in a file or --set.
var ToolEnv = []string{"SPRINT_DEBUG", "SPRINT_BIN"}

// Options are the overrides applied on top of the files, in this order: environment, then Set.
type Options struct {
	// Set holds "a.b.c=value" overrides (the CLI's --set); values are read as YAML scalars or lists.
	Set []string
	// Env is the environment as os.Environ gives it; every SPRINT_* entry must name a key
	// (or be one of ToolEnv).
	Env []string
}

// LoadInto fills dst (a pointer to a struct already holding its defaults) from the YAML file at
// path (empty: defaults only), its bases, the environment and the --set overrides, strictly: an
// unknown key, a wrong type, a missing base or a cycle is an error naming the key and the file.
func LoadInto(dst any, path string, opts Options) error {
	t := &tree{values: map[string]any{}, origins: map[string]string{}}
	if path != "" {
		var err error
		if t, err = loadTree(path, nil); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	envNames := map[string]string{}
	for _, l := range Leaves(dst) {
		known[l.Key] = true
		envNames[EnvPrefix+strings.ToUpper(strings.ReplaceAll(l.Key, ".", "_"))] = l.Key
	}
	envs := append([]string(nil), opts.Env...)
	sort.Strings(envs)
	for _, kv := range envs {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, ok := envNames[name]
		if !ok {
			if slices.Contains(ToolEnv, name) {
				continue
			}
			msg := fmt.Sprintf("environment variable %s matches no config key", name)
			if c := closest(name, slices.Collect(maps.Keys(envNames))); c != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", c)
			}
			return fmt.Errorf("%s; unset it or fix its name (SPRINT_<SECTION>_<KEY>, see sprint config keys)", msg)
		}
		t.set(key, parseScalar(val), "environment "+name)
	}
	for _, s := range opts.Set {
		key, val, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return fmt.Errorf("config override %q: expected key=value, e.g. train.max_steps=100", s)
		}
		if !known[key] {
			keys := make([]string, 0, len(known))
			for k := range known {
				keys = append(keys, k)
			}
			msg := fmt.Sprintf("config override --set %s: unknown key %s", s, key)
			if c := closest(key, keys); c != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", c)
			}
			return fmt.Errorf("%s", msg)
		}
		t.set(key, parseScalar(val), "--set "+key)
	}
	return decodeInto(dst, t)
}

// DecodeYAML fills dst (pointing to a struct holding its defaults) from one YAML document, as
// strictly as LoadInto but without bases or overrides; origin names the document in errors.
func DecodeYAML(dst any, data []byte, origin string) error {
	t, err := parseTree(data, origin)
	if err != nil {
		return err
	}
	return decodeInto(dst, t)
}

// Validator is implemented by config sections that check their own values.
type Validator interface{ Validate() error }

// ValidateSections calls Validate on every field of the struct cfg points to that implements it.
func ValidateSections(cfg any) error {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	var errs []string
	for i := 0; i < v.NumField(); i++ {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if val, ok := v.Field(i).Interface().(Validator); ok {
			if err := val.Validate(); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
