#!/usr/bin/env bash
# device_check.sh — the first checks of sprint on a GPU machine that has no Go toolchain.
#
# Build here, carry the binary and the repo (configs/, assets/), run there:
#   make linux-amd64                       # bin/sprint-linux-amd64, static
#   scripts/device_check.sh [OUT_DIR]      # on the GPU machine, from the repo root
#
# It finds a PJRT CUDA plugin (GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so, e.g. from the
# jax-cuda*-pjrt Python package) unless GOMLX_BACKEND is already set, and then:
#   1. sprint env: does go-xla open the plugin, which devices does it see;
#   2. a tiny teacher run and a tiny distillation on the shapes data, timed, on that backend;
#   3. the same distillation on the Go backend (CPU), as the baseline in the same call.
# Everything it writes goes to OUT_DIR (default $OUT or ./device-check); each step's output is
# in its own log, and a failing step does not stop the others.
set -u
out=${1:-${OUT:-device-check}}
mkdir -p "$out"
bin=${SPRINT_BIN:-bin/sprint-linux-amd64}
[ -x "$bin" ] || bin=bin/sprint
if [ ! -x "$bin" ]; then
  echo "device_check: no sprint binary (build it with make linux-amd64)" >&2
  exit 1
fi
export GOMLX_NO_AUTO_INSTALL=1

if [ -z "${GOMLX_BACKEND:-}" ]; then
  plugin=$(find / -name 'xla_cuda_plugin.so' -path '*xla_cuda*' 2>/dev/null | head -1)
  if [ -n "$plugin" ]; then
    export GOMLX_BACKEND="xla:$plugin"
    # The CUDA libraries of the same Python environment.
    nv=$(dirname "$(dirname "$(dirname "$plugin")")")/nvidia
    if [ -d "$nv" ]; then
      export LD_LIBRARY_PATH="$(find "$nv" -maxdepth 2 -name lib -type d | tr '\n' ':')${LD_LIBRARY_PATH:-}"
    fi
  fi
fi
echo "backend: ${GOMLX_BACKEND:-go (default)}" | tee "$out/backend.txt"

step() { # name, command...
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  local t1=$(date +%s.%N)
  printf '%-22s rc=%-3d %6.1fs\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)" | tee -a "$out/summary.txt"
}

tiny=(--set data.paths=["$out/shapes"] --set data.shapes.num_samples=512 --set train.run_dir="$out/runs"
      --set train.validate_every=0 --set log.tensorboard=false)
step env "$bin" env
step make-shapes "$bin" data make-shapes "$out/shapes" --config configs/teacher_shapes.yaml --set data.shapes.num_samples=512
step train-teacher "$bin" train-teacher --config configs/teacher_shapes.yaml "${tiny[@]}" --set train.max_steps=20 --set train.log_every=5
step distill "$bin" distill --config configs/demo.yaml "${tiny[@]}" --set train.max_steps=20 --set train.log_every=5 \
  --set train.name=device_distill
step distill-cpu env GOMLX_BACKEND=go "$bin" distill --config configs/demo.yaml "${tiny[@]}" --set train.max_steps=20 \
  --set train.log_every=5 --set train.name=device_distill_cpu
for run in train-teacher distill distill-cpu; do
  echo "$run: $(grep "steps/s" "$out/$run.log" 2>/dev/null | tail -1 | sed 's/.*| \([0-9.]* steps\/s\).*/\1/')" | tee -a "$out/summary.txt"
done
