package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite configs/README.md from the section structs")

// fieldDocs reads the doc comments of every struct field in the Go files of the given package
// folders, keyed by "StructName.FieldName".
func fieldDocs(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return true
				}
				for _, fl := range st.Fields.List {
					if fl.Doc == nil {
						continue
					}
					text := strings.Join(strings.Fields(fl.Doc.Text()), " ")
					for _, name := range fl.Names {
						docs[ts.Name.Name+"."+name.Name] = text
					}
				}
				return true
			})
		}
	}
	return docs
}

// keyDocs pairs every config key with its field's doc comment.
func keyDocs(v reflect.Type, prefix string, docs map[string]string, out map[string]string) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		k := keyOf(f)
		if k == "" {
			continue
		}
		key := joinKey(prefix, k)
		if f.Type.Kind() == reflect.Struct {
			keyDocs(f.Type, key, docs, out)
			continue
		}
		out[key] = docs[v.Name()+"."+f.Name]
	}
}

func renderReadme(t *testing.T) string {
	docs := fieldDocs(t, "../model", "../data", "../train", "../distill", "../eval", "../eval/shapes", "../caption")
	def := Default()
	desc := map[string]string{}
	keyDocs(reflect.TypeOf(def), "", docs, desc)
	flat := Flatten(&def)
	var b strings.Builder
	b.WriteString(`# Configs

Every sprint job reads one YAML file of the typed config tree (package ` + "`config`" + `). Keys not
given keep the defaults below; an unknown key or a value of the wrong type is an error naming the
key, the file and the closest known key.

- ` + "`base: other.yaml`" + ` (or a list) inherits from other files, relative to the including file.
- ` + "`SPRINT_<SECTION>_<KEY>`" + ` environment variables override files, e.g. ` + "`SPRINT_TRAIN_MAX_STEPS=10`" + `.
- ` + "`--set a.b.c=value`" + ` flags override both (values are YAML: ` + "`--set distill.cfg_scales=[4,5]`" + `).
- ` + "`sprint config show FILE`" + ` prints the resolved config; ` + "`sprint config validate FILE`" + ` checks it.

| file | what |
|---|---|
| ` + "`teacher_shapes.yaml`" + ` | the CPU demo's teacher, stage 1: flow matching from scratch on 60k shapes scenes (patch 1, phrase text encoding), in chained runs |
| ` + "`teacher_shapes_pe.yaml`" + ` | stage 2: stage 1 fine-tuned with the positional embedding on scenes whose related objects sit in opposite halves |
| ` + "`teacher_shapes_roles.yaml`" + ` | stage 3: stage 2 fine-tuned with the "roles" text encoding |
| ` + "`teacher_shapes_cooldown.yaml`" + ` | stage 4, the shipped demo teacher: stage 3's EMA trained on while the lr decays to 0 |
| ` + "`teacher_shapes_p2.yaml`" + ` | a candidate next demo teacher, in progress: the demo preset's shape (width 128, patch 2) from scratch on stage 3's scenes |
| ` + "`teacher_shapes_p2_cooldown.yaml`" + ` | its cooldown: its EMA trained on while the lr decays to 0 |
| ` + "`bench_peer.yaml`" + ` | the peer shape of the CPU speed comparison with PyTorch (` + "`sprint bench`" + `) |
| ` + "`demo.yaml`" + ` | the CPU demo (` + "`make demo`" + `): one sCM+LADD distillation on CPU, sampled and scored against the teacher |
| ` + "`demo_ablation.yaml`" + ` | the demo's ablation (` + "`make demo-ablation`" + `): sCM+LADD, sCM only and LADD only |
| ` + "`demo_control.yaml`" + ` | the control demo (` + "`make demo-control`" + `): a ControlNet for the shapes teacher and a one-step Sprint-ControlNet student |
| ` + "`sana_sprint_1600m_1024px.yaml`" + ` | the released SANA-Sprint 1.6B 1024px sCM+LADD recipe |
| ` + "`sana_sprint_600m_1024px.yaml`" + ` | the released SANA-Sprint 0.6B 1024px sCM+LADD recipe |
| ` + "`sana_teacher_finetune_1600m.yaml`" + ` | fine-tune a SANA 1.6B teacher with QK-norm and the dense time embedding |

## Every key, its default and meaning

This table is generated from the section structs' doc comments
(` + "`go test ./config -run TestConfigsReadme -update`" + `); a test fails when it falls behind the code.

| key | type | default | meaning |
|---|---|---|---|
`)
	for _, l := range Leaves(&def) {
		d := desc[l.Key]
		if d == "" {
			t.Errorf("config key %s has no doc comment on its field", l.Key)
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", l.Key, l.Type, flat[l.Key], strings.ReplaceAll(d, "|", `\|`))
	}
	return b.String()
}

// TestConfigsReadme keeps configs/README.md equal to the keys, defaults and docs in code.
func TestConfigsReadme(t *testing.T) {
	want := renderReadme(t)
	path := filepath.Join("..", "configs", "README.md")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./config -run TestConfigsReadme -update)", err)
	}
	if string(got) != want {
		t.Fatalf("configs/README.md is out of date with the config structs: run go test ./config -run TestConfigsReadme -update")
	}
}

// TestShippedConfigsLoad loads every YAML file in configs/ strictly.
func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		if _, err := Load(f, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestDefaultConfigRoundTrip(t *testing.T) {
	def := Default()
	b, err := Marshal(&def)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "def.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, def) {
		t.Fatalf("default config does not round-trip:\n%s", b)
	}
}

// TestTeacherCooldownStage: stage 4 of the shipped teacher (teacher_shapes_cooldown.yaml) is
// stage 3 (teacher_shapes_roles.yaml) with only the run, its start and the learning rate changed:
// same model, data, batch and EMA, so the demo configs, based on stage 3, match the shipped teacher.
func TestTeacherCooldownStage(t *testing.T) {
	stage3, err := Load(filepath.Join("..", "configs", "teacher_shapes_roles.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	stage4, err := Load(filepath.Join("..", "configs", "teacher_shapes_cooldown.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stage4.Distill.TeacherWeights, "runs/teacher_shapes_roles/export/ema_teacher"; got != want {
		t.Errorf("stage 4 starts from %q, want stage 3's EMA %q", got, want)
	}
	if stage4.Train.LRSchedule.Type != "cosine" {
		t.Errorf("stage 4 lr schedule %q, want cosine", stage4.Train.LRSchedule.Type)
	}
	same := *stage4
	same.Distill.TeacherWeights = stage3.Distill.TeacherWeights
	same.Train.Name, same.Train.MaxSteps = stage3.Train.Name, stage3.Train.MaxSteps
	same.Train.Optimizer.LR, same.Train.LRSchedule = stage3.Train.Optimizer.LR, stage3.Train.LRSchedule
	if !reflect.DeepEqual(same, *stage3) {
		t.Errorf("teacher_shapes_cooldown.yaml differs from teacher_shapes_roles.yaml beyond the run name, max_steps, the start weights and the lr")
	}
}
