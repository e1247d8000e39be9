# Shared by scripts/setup, scripts/test, scripts/run and scripts/gpu-check (sourced, not run).
TRAINWRECK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRAINWRECK_CACHE=${TRAINWRECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainwreck}
TRAINWRECK_TORCH_VERSION=2.11.0
TRAINWRECK_VENV=$TRAINWRECK_CACHE/torch-$TRAINWRECK_TORCH_VERSION
BUILD_DIR=${BUILD_DIR:-$TRAINWRECK_ROOT/build}
# ccache hits across clones in different folders (CI builds a fresh clone each time).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$TRAINWRECK_ROOT}

log() { printf '[trainwreck] %s\n' "$*" >&2; }
die() { printf '[trainwreck] error: %s\n' "$*" >&2; exit 1; }

# Prints the CMake prefix that holds TorchConfig.cmake, in the documented order:
# $Torch_DIR, $CMAKE_PREFIX_PATH, an importable python torch, the cached virtual environment.
torch_prefix() {
  if [ -n "${Torch_DIR:-}" ]; then echo "$Torch_DIR"; return 0; fi
  if [ -n "${CMAKE_PREFIX_PATH:-}" ]; then
    local p
    for p in ${CMAKE_PREFIX_PATH//:/ }; do
      if [ -f "$p/Torch/TorchConfig.cmake" ] || [ -f "$p/share/cmake/Torch/TorchConfig.cmake" ] \
         || [ -f "$p/TorchConfig.cmake" ]; then echo "$CMAKE_PREFIX_PATH"; return 0; fi
    done
  fi
  local py
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1; then
      local p
      p=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) && [ -n "$p" ] \
        && { echo "$p"; return 0; }
    fi
  done
  if [ -x "$TRAINWRECK_VENV/bin/python" ]; then
    local p
    p=$("$TRAINWRECK_VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) \
      && [ -n "$p" ] && { echo "$p"; return 0; }
  fi
  return 1
}

jobs_default() { nproc 2>/dev/null || echo 2; }

# Configures (once) and builds build/. Extra CMake arguments may be passed.
build_project() {
  local prefix
  prefix=$(torch_prefix) || die "LibTorch not found; run scripts/setup"
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    log "configuring $BUILD_DIR (LibTorch from $prefix)"
    cmake -S "$TRAINWRECK_ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" "$@" || die "cmake configure failed"
  fi
  # TRAINWRECK_BUILD_TARGETS: build only these (scripts/run needs the trainwreck executable alone).
  local targets=()
  [ -z "${TRAINWRECK_BUILD_TARGETS:-}" ] || targets=(--target ${TRAINWRECK_BUILD_TARGETS})
  cmake --build "$BUILD_DIR" -j "$(jobs_default)" "${targets[@]}" || die "build failed"
}

# Where no GPU driver is installed and a built program cannot load without libcuda.so.1, a
# libcuda.so.1 made from the toolkit's stub lets it load and report "no device" instead of the
# loader failing. Only then: the stub answers every call with "CUDA driver is a stub library"
# (error 34), which LibTorch prints into every cell's log. Arguments: the programs to check
# (default: trainwreck and backend_tests in $BUILD_DIR).
use_cuda_stub_if_no_driver() {
  if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then return 0; fi
  # A machine with a driver never gets the stub, even where its libcuda is not in the cache:
  # the stub would hide the GPU.
  if [ -e /dev/nvidiactl ] || [ -d /proc/driver/nvidia ]; then return 0; fi
  local programs=("$@") needs=0 p
  [ ${#programs[@]} -gt 0 ] || programs=("$BUILD_DIR/trainwreck" "$BUILD_DIR/backend_tests")
  for p in "${programs[@]}"; do
    [ -x "$p" ] || continue
    if ldd "$p" 2>/dev/null | grep -q 'libcuda\.so\.1 => not found'; then needs=1; fi
  done
  [ "$needs" = 1 ] || return 0
  local stub
  for stub in /usr/local/cuda/lib64/stubs/libcuda.so /usr/local/cuda/targets/x86_64-linux/lib/stubs/libcuda.so; do
    if [ -f "$stub" ]; then
      mkdir -p "$TRAINWRECK_CACHE/cuda-stub"
      ln -sf "$stub" "$TRAINWRECK_CACHE/cuda-stub/libcuda.so.1"
      export LD_LIBRARY_PATH="$TRAINWRECK_CACHE/cuda-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      return 0
    fi
  done
}
