#!/usr/bin/env bash
# device_check.sh — one-call checks of sprint on a GPU machine that has no Go toolchain.
#
# Build here, carry the binary and the repo (configs/, assets/, scripts/), run there:
#   make linux-amd64                       # bin/sprint-linux-amd64: cgo build with the XLA backend
#   scripts/device_check.sh [OUT_DIR]      # on the GPU machine, from the repo root
#
# It finds a PJRT CUDA plugin (GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so, e.g. from the
# jax-cuda*-pjrt Python package) unless GOMLX_BACKEND is already set, then, in order of
# priority (a global budget, DEVICE_CHECK_BUDGET seconds, default 780, skips what no longer
# fits; each step has its own timeout):
#   1. env: does go-xla open the plugin, which devices does it see;
#   2. parity: the same random weights (sprint model init) through sprint model forward on the
#      device and on the Go backend (CPU), compared in Python (stdlib only): demo student, and
#      the 0.6B teacher at 1024 px (one sample);
#   3. bench of the demo preset (FM, G, D steps, 1/2/4-step sampling);
#   4. bench of the 0.6B and 1.6B recipes at 1024 px, random weights: G step at batch 1, 2, 4,
#      with and without gradient checkpointing (compile time, step time, MFU, XLA's device
#      memory), then the full bench (D step, sampling) at batch 1;
#   5. a short tiny distillation on the shapes data, on the device and on the CPU.
# Everything goes under OUT_DIR (default $OUT or ./device-check): one log per step,
# summary.txt (rc and seconds per step), bench JSON files, parity.txt. A failing step does not
# stop the others. DEVICE_CHECK_CPU=1 runs the CPU part only (GOMLX_BACKEND=go, no 0.6B/1.6B
# bench, parity of the demo model only): what a machine without a GPU can check of this script.
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
budget=${DEVICE_CHECK_BUDGET:-780}
cpu_only=${DEVICE_CHECK_CPU:-0}
start=$SECONDS

if [ "$cpu_only" = 1 ]; then
  export GOMLX_BACKEND=go
elif [ -z "${GOMLX_BACKEND:-}" ]; then
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

# step NAME TIMEOUT COMMAND...: runs COMMAND with its output in NAME.log, if the budget allows.
step() {
  local name=$1 limit=$2; shift 2
  local left=$((budget - (SECONDS - start)))
  if [ "$left" -lt 20 ]; then
    printf '%-28s skipped (budget of %ss spent)\n' "$name" "$budget" | tee -a "$out/summary.txt"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS
  # Through bash, so that COMMAND may be one of the functions below (exported).
  timeout "$limit" bash -c '"$@"' bash "$@" > "$out/$name.log" 2>&1
  local rc=$?
  printf '%-28s rc=%-3d %5ds%s\n' "$name" "$rc" "$((SECONDS - t0))" "$([ $rc = 124 ] && echo " (timeout ${limit}s)")" | tee -a "$out/summary.txt"
}

# 1. Environment.
step env 60 "$bin" env
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

# 2. Parity: device vs CPU forward on the same weights and inputs.
parity() { # name preset role batch channels side captionlen captiondim
  local name=$1 preset=$2 role=$3 dir="$out/parity-$1"
  mkdir -p "$dir"
  "$bin" model init --preset "$preset" --role "$role" --seed 3 --out "$dir/weights" || return 1
  python3 scripts/parity.py inputs "$dir/inputs.safetensors" "$role" "$4" "$5" "$6" "$7" "$8" || return 1
  "$bin" model forward --preset "$preset" --weights "$dir/weights" --inputs "$dir/inputs.safetensors" --out "$dir/device.safetensors" || return 1
  GOMLX_BACKEND=go "$bin" model forward --preset "$preset" --weights "$dir/weights" --inputs "$dir/inputs.safetensors" --out "$dir/cpu.safetensors" || return 1
  python3 scripts/parity.py compare "$dir/cpu.safetensors" "$dir/device.safetensors" | tee -a "$out/parity.txt"
}
export -f parity
export out bin
step parity-demo-student 180 parity demo-student demo student 2 12 16 16 32
[ "$cpu_only" = 1 ] || step parity-0.6b-teacher 300 parity 0.6b-teacher sana-0.6b teacher 1 32 32 300 2304

# 3. Bench of the demo preset.
step bench-demo 180 "$bin" bench --config configs/demo.yaml --repeats 3 --json "$out/bench-demo.json"

# 4. Bench of the released recipes at 1024 px with random weights.
if [ "$cpu_only" != 1 ]; then
  for recipe in 600m 1600m; do
    cfg=configs/sana_sprint_${recipe}_1024px.yaml
    for remat in true false; do
      for b in 1 2 4; do
        step "bench-$recipe-g-b$b-remat-$remat" 240 "$bin" bench --config "$cfg" --only g_step --batch "$b" --repeats 2 \
          --set model.grad_checkpointing=$remat --json "$out/bench-$recipe-g-b$b-remat-$remat.json"
      done
    done
  done
  for recipe in 600m 1600m; do
    step "bench-$recipe-all-b1" 300 "$bin" bench --config configs/sana_sprint_${recipe}_1024px.yaml --batch 1 --repeats 2 \
      --json "$out/bench-$recipe-all-b1.json"
  done
fi

# 5. A short tiny distillation, on the backend and on the CPU.
tiny=(--set data.paths=["$out/shapes"] --set data.shapes.num_samples=512 --set train.run_dir="$out/runs"
      --set train.validate_every=0 --set log.tensorboard=false --set train.max_steps=20 --set train.log_every=5)
step make-shapes 120 "$bin" data make-shapes "$out/shapes" --config configs/teacher_shapes.yaml --set data.shapes.num_samples=512
step distill 300 "$bin" distill --config configs/demo.yaml "${tiny[@]}" --set train.name=device_distill
[ "$cpu_only" = 1 ] || step distill-cpu 300 env GOMLX_BACKEND=go "$bin" distill --config configs/demo.yaml "${tiny[@]}" \
  --set train.name=device_distill_cpu
for run in distill distill-cpu; do
  [ -f "$out/$run.log" ] && echo "$run: $(grep "steps/s" "$out/$run.log" 2>/dev/null | tail -1 | sed 's/.*| \([0-9.]* steps\/s\).*/\1/')" | tee -a "$out/summary.txt"
done
echo "total $((SECONDS - start))s" | tee -a "$out/summary.txt"
