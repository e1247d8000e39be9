#!/usr/bin/env bash
# A team's own model through `trainwreck run`: examples/own_model/make_model.py scripts a small
# Conv2d + BatchNorm2d + Linear net with the Python torch that setup installs and saves its data;
# the example's scenarios (LR 1.0, an oversized batch, a leak, the guards, a structural fault) run
# on it, and every cell must match the expectation pinned in them. Then a missing and a malformed
# model file must each be refused with exit 2, naming the file, before any cell starts.
# Usage: own_model_test.sh TRAINWRECK SOURCE_DIR WORK_DIR. Exit 77 (skipped) without a Python torch.
set -euo pipefail
trainwreck=$1 source_dir=$2 work=$3
cache=${TRAINWRECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainwreck}
python=""
for candidate in ${TRAINWRECK_PYTHON:-} "$cache/torch-2.11.0/bin/python" python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import torch' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "no Python with torch (set TRAINWRECK_PYTHON): skipped"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
cp -r "$source_dir/examples/own_model" "$work/own_model"
rm -f "$work/own_model/model.pt" "$work/own_model/data.pt"
"$python" "$work/own_model/make_model.py" --out "$work/own_model" 2>/dev/null

status=0
"$trainwreck" run --device cpu --jobs 2 --scenarios "$work/own_model/scenarios" --out "$work/results" --quiet || status=$?
if [ "$status" != 0 ]; then
  echo "FAIL: trainwreck run on the scripted model exited $status"
  cat "$work/results/matrix.md" 2>/dev/null || true
  exit 1
fi
for cell in own_model_lr_too_high/none own_model_oversized_batch/none own_model_memory_leak/none \
            own_model_lr_too_high/nonfinite_guard own_model_structure/none; do
  grep -q "\"$cell/cpu\"" "$work/results/matrix.json" || { echo "FAIL: no cell $cell/cpu in the matrix"; exit 1; }
done

# A scenario whose model file is replaced (sed expression $1) must be refused with exit 2, with a
# message holding every other argument, and leave no results directory.
expect_refused() {
  local edit=$1 what=$2
  shift 2
  mkdir -p "$work/own_model/bad"
  sed "$edit" "$work/own_model/scenarios/own_model_healthy.json" > "$work/own_model/bad/refused.json"
  local status=0
  "$trainwreck" run --device cpu --scenarios "$work/own_model/bad/refused.json" --out "$work/bad-out" \
    2> "$work/own_model/bad/err.txt" || status=$?
  [ "$status" = 2 ] || { echo "FAIL: $what exited $status, not 2"; exit 1; }
  local wanted
  for wanted in "$@"; do
    grep -q "$wanted" "$work/own_model/bad/err.txt" \
      || { echo "FAIL: the message for $what does not say '$wanted':"; cat "$work/own_model/bad/err.txt"; exit 1; }
  done
  [ ! -e "$work/bad-out" ] || { echo "FAIL: a results directory was written for $what"; exit 1; }
}
expect_refused 's|"../model.pt"|"../no-such-model.pt"|' "a missing model file" "recipe.model_file" "no-such-model.pt"
# The data file where the module should be.
expect_refused 's|"../model.pt"|"../data.pt"|' "a malformed model file" "data.pt" "not a TorchScript module"
echo "ok: the scripted model's matrix matches its pins; missing and malformed files are refused with exit 2"
