# sprint: build, test and run everything through this file; it sets the toolchain itself.
# GoMLX v0.28 needs Go >= 1.27 (the go command fetches it), and the Go backend's SIMD
# matrix kernels exist only with GOEXPERIMENT=simd (about 30x faster).
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd
# Nothing is downloaded at run time: XLA plugins must be local paths.
export GOMLX_NO_AUTO_INSTALL := 1

BIN     := bin/sprint
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build test test-short bench lint demo demo-ablation demo-control teacher clean linux-amd64

build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sprint

# A linux/amd64 binary with the XLA backend, to carry to a GPU machine without Go: go-xla
# opens the PJRT plugin with dlopen through cgo, so this is a cgo build, dynamically linked
# against the glibc of the build machine (2.36 here; a GPU image with a newer glibc loads it).
# The xla backend registers itself when compute/xla is linked in (cmd/sprint/backend.go
# imports it); GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so selects it at run time.
linux-amd64:
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/sprint-linux-amd64 ./cmd/sprint

test:
	go test -count=1 -timeout 25m ./...
	cd third_party/compute && go test -count=1 ./internal/gobackend/...

test-short:
	go test -short -count=1 -timeout 10m ./...

bench:
	go test -run '^$$' -bench . -benchtime 3x -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	third_party/patches/apply.sh --check

# The main job: distil the shipped shapes teacher on CPU with sCM+LADD and write
# runs/demo/report.md with PNG grids and metrics.
demo: build
	$(BIN) demo --config configs/demo.yaml

# The ablation: sCM+LADD, sCM only and LADD only, three seeds each, in
# runs/demo_ablation/report.md.
demo-ablation: build
	$(BIN) demo --config configs/demo_ablation.yaml

# The control demo: a ControlNet for the shipped teacher on outline maps of the shapes, a one-step
# Sprint-ControlNet student and an unconditioned student; runs/demo_control/report.md compares
# how often each draws the objects where the control map puts them.
demo-control: build
	$(BIN) demo --config configs/demo_control.yaml

# Reproduce the shipped teacher (assets/teacher_shapes) from scratch in its four stages
# (configs/teacher_shapes.yaml, teacher_shapes_pe.yaml, teacher_shapes_roles.yaml,
# teacher_shapes_cooldown.yaml; each fine-tunes the previous one's exported weights): about
# 7 hours on 2 cores. Rerun after an interruption, it resumes the stage it was in; finished
# stages are not trained again.
TEACHER_STAGES := teacher_shapes:shapes_phr teacher_shapes_pe:shapes_phr_halves teacher_shapes_roles:shapes_roles_halves teacher_shapes_cooldown:shapes_roles_halves

teacher: build
	@set -e; for s in $(TEACHER_STAGES); do \
	  name=$${s%%:*}; data=runs/data/$${s##*:}; \
	  test -d $$data || $(BIN) data make-shapes $$data --config configs/$$name.yaml; \
	  test -d runs/$$name/export/teacher || $(BIN) train-teacher --config configs/$$name.yaml \
	    $$(test -d runs/$$name/checkpoints && echo --resume latest); \
	done
	mkdir -p assets/teacher_shapes
	cp runs/teacher_shapes_cooldown/export/ema_teacher/* assets/teacher_shapes/

clean:
	rm -rf bin
