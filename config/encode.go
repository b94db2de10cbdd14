package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sprint-distill/sprint/checkpoints"
)

// Leaf is one key of the config tree with its current value, in declaration order.
type Leaf struct {
	Key   string // dotted path, e.g. "train.optimizer.lr"
	Type  string // "string", "int", "float", "bool", "list of ...", "map"
	Value any
}

// Leaves lists every key of a config struct (a pointer or a value) with its value, in field order.
func Leaves(cfg any) []Leaf {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	var out []Leaf
	walkLeaves(v, "", &out)
	return out
}

func walkLeaves(v reflect.Value, prefix string, out *[]Leaf) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		k := keyOf(t.Field(i))
		if k == "" {
			continue
		}
		key := joinKey(prefix, k)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			walkLeaves(fv, key, out)
			continue
		}
		*out = append(*out, Leaf{Key: key, Type: typeName(fv.Type()), Value: fv.Interface()})
	}
}

// scalarNames name the config's scalar kinds: the type as a listing shows it, and its values
// as errors name them.
var scalarNames = []struct {
	kinds       []reflect.Kind
	typ, values string
}{
	{[]reflect.Kind{reflect.String}, "string", "strings"},
	{[]reflect.Kind{reflect.Bool}, "bool", "booleans"},
	{[]reflect.Kind{reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64}, "int", "integers"},
	{[]reflect.Kind{reflect.Float32, reflect.Float64}, "float", "numbers"},
}

// scalarName returns the names of a scalar kind (scalarNames); ok is false for other kinds.
func scalarName(k reflect.Kind) (typ, values string, ok bool) {
	for _, n := range scalarNames {
		if slices.Contains(n.kinds, k) {
			return n.typ, n.values, true
		}
	}
	return "", "", false
}

func typeName(t reflect.Type) string {
	if typ, _, ok := scalarName(t.Kind()); ok {
		return typ
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	default:
		return t.Kind().String()
	}
}

// Flatten returns the config as dotted key -> canonical text value, for diffs between configs.
func Flatten(cfg any) map[string]string {
	out := map[string]string{}
	for _, l := range Leaves(cfg) {
		n, err := toNode(reflect.ValueOf(l.Value))
		if err != nil {
			out[l.Key] = fmt.Sprint(l.Value)
			continue
		}
		b, _ := yaml.Marshal(n)
		out[l.Key] = strings.TrimSpace(string(b))
	}
	return out
}

// Marshal writes a config struct as YAML with every key, in field order. Loading the result gives
// back an equal struct.
func Marshal(cfg any) ([]byte, error) {
	node, err := toNode(reflect.Indirect(reflect.ValueOf(cfg)))
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{node}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return b, nil
}

func toNode(v reflect.Value) (*yaml.Node, error) {
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			k := keyOf(t.Field(i))
			if k == "" {
				continue
			}
			val, err := toNode(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, val)
		}
		return n, nil
	case reflect.Float32, reflect.Float64:
		// Shortest text that round-trips, always with a float marker so YAML reads it back as a number.
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			e, err := toNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, e)
		}
		return n, nil
	default:
		var n yaml.Node
		if err := n.Encode(v.Interface()); err != nil {
			return nil, err
		}
		return &n, nil
	}
}

// Fingerprint is the sha256 of the canonical YAML of a config: equal configs, equal fingerprints,
// and the fingerprint a run of the config records in its checkpoints (checkpoints.Fingerprint).
func Fingerprint(cfg any) (string, error) {
	b, err := Marshal(cfg)
	if err != nil {
		return "", err
	}
	return checkpoints.Fingerprint(b), nil
}
