package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// tagName is the struct tag that names a field's YAML key in every section struct.
const tagName = "mapstructure"

// keyOf returns the YAML key of a struct field, or "" for fields that are not part of the config.
func keyOf(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get(tagName)
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// decodeError is a config error tied to a key and the file that set it.
type decodeError struct {
	file, key, msg string
}

func (e *decodeError) Error() string {
	if e.file == "" {
		return fmt.Sprintf("config key %s: %s", e.key, e.msg)
	}
	return fmt.Sprintf("config %s: key %s: %s", e.file, e.key, e.msg)
}

// decodeInto overlays the values of t onto dst (a pointer to a struct pre-filled with defaults).
// Unknown keys and values of the wrong type are errors naming the key and its file.
func decodeInto(dst any, t *tree) error {
	return decodeStruct(reflect.ValueOf(dst).Elem(), t.values, "", t)
}

func decodeStruct(v reflect.Value, m map[string]any, prefix string, t *tree) error {
	fields := map[string]reflect.Value{}
	typ := v.Type()
	for i := 0; i < typ.NumField(); i++ {
		if k := keyOf(typ.Field(i)); k != "" {
			fields[k] = v.Field(i)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := joinKey(prefix, k)
		fv, ok := fields[k]
		if !ok {
			known := make([]string, 0, len(fields))
			for name := range fields {
				known = append(known, name)
			}
			msg := "unknown key"
			if c := closest(k, known); c != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", joinKey(prefix, c))
			}
			return &decodeError{file: originOf(t, key), key: key, msg: msg}
		}
		if err := decodeValue(fv, m[k], key, t); err != nil {
			return err
		}
	}
	return nil
}

func originOf(t *tree, key string) string {
	if o, ok := t.origins[key]; ok {
		return o
	}
	// A map-valued key: report the file of any leaf below it.
	for k, o := range t.origins {
		if strings.HasPrefix(k, key+".") {
			return o
		}
	}
	return ""
}

func decodeValue(fv reflect.Value, raw any, key string, t *tree) error {
	bad := func(want string) error {
		return &decodeError{file: originOf(t, key), key: key,
			msg: fmt.Sprintf("expected %s, got %s", want, describe(raw))}
	}
	switch fv.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			if raw == nil {
				return nil
			}
			return bad("a mapping (section)")
		}
		return decodeStruct(fv, m, key, t)
	case reflect.String:
		switch r := raw.(type) {
		case string:
			fv.SetString(r)
		default:
			return bad("a string")
		}
	case reflect.Bool:
		switch r := raw.(type) {
		case bool:
			fv.SetBool(r)
		case string: // from environment variables
			b, err := strconv.ParseBool(r)
			if err != nil {
				return bad("a boolean (true/false)")
			}
			fv.SetBool(b)
		default:
			return bad("a boolean (true/false)")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := asInt(raw)
		if !ok {
			return bad("an integer")
		}
		if fv.OverflowInt(i) {
			return bad("an integer in range")
		}
		fv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := asInt(raw)
		if !ok || i < 0 {
			return bad("a non-negative integer")
		}
		fv.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, ok := asFloat(raw)
		if !ok {
			return bad("a number")
		}
		fv.SetFloat(f)
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			if raw == nil {
				fv.Set(reflect.Zero(fv.Type()))
				return nil
			}
			return bad("a list of " + kindName(fv.Type().Elem()))
		}
		if len(list) == 0 {
			fv.Set(reflect.Zero(fv.Type())) // [] and a missing list are the same config: nil
			return nil
		}
		out := reflect.MakeSlice(fv.Type(), len(list), len(list))
		for i, e := range list {
			if err := decodeValue(out.Index(i), e, fmt.Sprintf("%s[%d]", key, i), t); err != nil {
				if de, ok := err.(*decodeError); ok && de.file == "" {
					de.file = originOf(t, key)
				}
				return err
			}
		}
		fv.Set(out)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok || fv.Type().Key().Kind() != reflect.String {
			return bad("a mapping")
		}
		out := reflect.MakeMapWithSize(fv.Type(), len(m))
		for k, e := range m {
			ev := reflect.New(fv.Type().Elem()).Elem()
			if err := decodeValue(ev, e, joinKey(key, k), t); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k), ev)
		}
		fv.Set(out)
	default:
		return &decodeError{file: originOf(t, key), key: key, msg: fmt.Sprintf("unsupported field kind %s", fv.Kind())}
	}
	return nil
}

func kindName(t reflect.Type) string {
	if _, values, ok := scalarName(t.Kind()); ok {
		return values
	}
	return t.Kind().String() + "s"
}

func describe(raw any) string {
	switch r := raw.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return fmt.Sprintf("string %q", r)
	case bool:
		return fmt.Sprintf("boolean %v", r)
	case int, int64, uint64:
		return fmt.Sprintf("integer %v", r)
	case float64:
		return fmt.Sprintf("number %v", r)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T %v", raw, raw)
	}
}

func asInt(raw any) (int64, bool) {
	switch r := raw.(type) {
	case int:
		return int64(r), true
	case int64:
		return r, true
	case uint64:
		if r > math.MaxInt64 {
			return 0, false
		}
		return int64(r), true
	case float64:
		if r == math.Trunc(r) && math.Abs(r) < 1<<53 {
			return int64(r), true
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func asFloat(raw any) (float64, bool) {
	switch r := raw.(type) {
	case int:
		return float64(r), true
	case int64:
		return float64(r), true
	case uint64:
		return float64(r), true
	case float64:
		return r, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		return f, err == nil
	}
	return 0, false
}

// closest returns the known key nearest to k by edit distance, if it is near enough to be a typo.
func closest(k string, known []string) string {
	best, bestD := "", math.MaxInt
	sort.Strings(known)
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(k)/2) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
