package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sprint-distill/sprint/checkpoints"
	"github.com/sprint-distill/sprint/internal/testfile"
)

type optCfg struct {
	LR    float64   `mapstructure:"lr"`
	Betas []float64 `mapstructure:"betas"`
}

type trainCfg struct {
	MaxSteps  int     `mapstructure:"max_steps"`
	MaxHours  float64 `mapstructure:"max_hours"`
	Optimizer optCfg  `mapstructure:"optimizer"`
	Resume    bool    `mapstructure:"resume"`
}

type testCfg struct {
	Name  string   `mapstructure:"name"`
	Train trainCfg `mapstructure:"train"`
	Tags  []string `mapstructure:"tags"`
}

func defaults() testCfg {
	return testCfg{Name: "run", Train: trainCfg{MaxSteps: 100, MaxHours: 3.9, Optimizer: optCfg{LR: 2e-6, Betas: []float64{0.9, 0.999}}}}
}

func TestDefaultsOnly(t *testing.T) {
	got := defaults()
	if err := LoadInto(&got, "", Options{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, defaults()) {
		t.Fatalf("defaults changed: %+v", got)
	}
}

func TestInheritanceAndOverrides(t *testing.T) {
	dir := t.TempDir()
	testfile.Write(t, dir, "base/common.yaml", "name: base\ntrain:\n  max_steps: 5\n  optimizer:\n    lr: 1.0e-4\n")
	p := testfile.Write(t, dir, "child.yaml", "base: base/common.yaml\ntrain:\n  max_steps: 7\ntags: [a, b]\n")
	got := defaults()
	err := LoadInto(&got, p, Options{
		Set: []string{"train.optimizer.betas=[0.5,0.6]", "train.resume=true"},
		Env: []string{"SPRINT_TRAIN_MAX_HOURS=1.5", "SPRINT_DEBUG=1", "HOME=/x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := testCfg{Name: "base", Tags: []string{"a", "b"}, Train: trainCfg{
		MaxSteps: 7, MaxHours: 1.5, Resume: true,
		Optimizer: optCfg{LR: 1e-4, Betas: []float64{0.5, 0.6}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestSetWinsOverEnv(t *testing.T) {
	got := defaults()
	err := LoadInto(&got, "", Options{Set: []string{"train.max_steps=3"}, Env: []string{"SPRINT_TRAIN_MAX_STEPS=9"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Train.MaxSteps != 3 {
		t.Fatalf("max_steps = %d, want 3 (flag over environment)", got.Train.MaxSteps)
	}
}

func TestBadConfigs(t *testing.T) {
	dir := t.TempDir()
	testfile.Write(t, dir, "cyc_a.yaml", "base: cyc_b.yaml\nname: a\n")
	testfile.Write(t, dir, "cyc_b.yaml", "base: cyc_a.yaml\nname: b\n")
	cases := []struct {
		name, body string
		set        []string
		env        []string
		want       []string
	}{
		{"unknown key", "train:\n  max_step: 3\n", nil, nil,
			[]string{"bad.yaml", "train.max_step", "unknown key", "did you mean train.max_steps"}},
		{"unknown section", "trian:\n  max_steps: 3\n", nil, nil,
			[]string{"bad.yaml", "key trian", "did you mean train"}},
		{"wrong type", "train:\n  optimizer:\n    lr: fast\n", nil, nil,
			[]string{"bad.yaml", "train.optimizer.lr", "expected a number", `"fast"`}},
		{"wrong list element", "train:\n  optimizer:\n    betas: [0.9, x]\n", nil, nil,
			[]string{"bad.yaml", "train.optimizer.betas[1]", "expected a number"}},
		{"section as scalar", "train: 3\n", nil, nil,
			[]string{"bad.yaml", "key train", "expected a mapping"}},
		{"missing base", "base: nowhere.yaml\n", nil, nil,
			[]string{"bad.yaml", `base file "nowhere.yaml" not found`}},
		{"cycle", "base: cyc_a.yaml\n", nil, nil,
			[]string{"base cycle", "cyc_a.yaml -> cyc_b.yaml -> cyc_a.yaml"}},
		{"malformed yaml", "train:\n  max_steps: [1, 2\n", nil, nil,
			[]string{"bad.yaml", "malformed YAML", "line"}},
		{"bad set key", "", []string{"train.max_stpes=1"}, nil,
			[]string{"--set train.max_stpes=1", "unknown key", "did you mean train.max_steps"}},
		{"bad set type", "", []string{"train.max_steps=many"}, nil,
			[]string{"--set train.max_steps", "expected an integer", `"many"`}},
		{"bad set syntax", "", []string{"train.max_steps"}, nil,
			[]string{"expected key=value"}},
		{"bad env type", "", nil, []string{"SPRINT_TRAIN_RESUME=maybe"},
			[]string{"environment SPRINT_TRAIN_RESUME", "train.resume", "expected a boolean"}},
		{"env typo", "", nil, []string{"SPRINT_TRAIN_MAX_STEP=3"},
			[]string{"environment variable SPRINT_TRAIN_MAX_STEP matches no config key", "did you mean SPRINT_TRAIN_MAX_STEPS"}},
		{"env unknown", "", nil, []string{"SPRINT_UNRELATED=1"},
			[]string{"SPRINT_UNRELATED matches no config key", "unset it"}},
		{"float for int", "train:\n  max_steps: 2.5\n", nil, nil,
			[]string{"train.max_steps", "expected an integer", "2.5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testfile.Write(t, dir, "bad.yaml", c.body)
			got := defaults()
			err := LoadInto(&got, p, Options{Set: c.set, Env: c.env})
			if err == nil {
				t.Fatalf("no error for %q", c.body)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	got := defaults()
	err := LoadInto(&got, filepath.Join(t.TempDir(), "nope.yaml"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: file not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	cfg := defaults()
	cfg.Tags = []string{"x", "y z"}
	cfg.Train.Optimizer.LR = 1e-300
	cfg.Train.MaxHours = 2
	b, err := Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := testfile.Write(t, t.TempDir(), "resolved.yaml", string(b))
	var back testCfg
	if err := LoadInto(&back, p, Options{}); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", back, cfg, b)
	}
	f1, _ := Fingerprint(&cfg)
	f2, _ := Fingerprint(&back)
	if f1 != f2 || len(f1) != 64 {
		t.Fatalf("fingerprints %s %s", f1, f2)
	}
}

// TestFlattenDiff: the flattened configs of two configs, compared as a resumed run compares
// them (checkpoints.DiffConfig), differ in exactly the keys changed.
func TestFlattenDiff(t *testing.T) {
	a, b := defaults(), defaults()
	b.Train.Optimizer.LR = 1
	b.Tags = []string{"new"}
	got := checkpoints.DiffConfig(Flatten(&a), Flatten(&b), nil)
	want := []string{"tags", "train.optimizer.lr"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff = %v, want %v", got, want)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"max_step", "max_steps", 1}, {"trian", "train", 2}, {"kitten", "sitting", 3}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q,%q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
