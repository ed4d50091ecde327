#!/usr/bin/env bash
# Install tot, llama-cpp-python and the default model into ./.venv (or the active virtualenv).
#
# llama-cpp-python ships as source and compiles llama.cpp (5-7 minutes on 2 cores). On
# x86-64 it is built for this CPU without AMX kernels: VMs whose CPUs advertise AMX but
# refuse it otherwise die with SIGILL at the first matrix product. The wheel is cached
# per (version, flags, CPU) in ~/.cache/tot/wheels, never in pip's cache, which ignores
# CMAKE_ARGS. On macOS llama.cpp builds with Metal by default.
# Set TOT_CMAKE_ARGS to build with other flags (e.g. CUDA).
set -euo pipefail
cd "$(dirname "$0")"

LLAMA_CPP_VERSION=0.3.36

if [ -n "${VIRTUAL_ENV:-}" ]; then
  python=python
else
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  python=.venv/bin/python
fi

if [ -n "${TOT_CMAKE_ARGS:-}" ]; then
  cmake_args=$TOT_CMAKE_ARGS
elif [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake_args="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
else
  cmake_args="-DLLAVA_BUILD=OFF"
fi

cpu=$( (grep -m1 -E 'model name|Hardware' /proc/cpuinfo 2>/dev/null; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; sysctl -n machdep.cpu.brand_string 2>/dev/null) | tr -s ' ' || true)
key=$(printf '%s\n%s\n%s\n%s\n' "$LLAMA_CPP_VERSION" "$cmake_args" "$(uname -sm)" "$cpu" | sha256sum 2>/dev/null || printf '%s' "$cmake_args" | shasum -a 256)
wheels="${TOT_WHEEL_CACHE:-$HOME/.cache/tot/wheels}/${key:0:16}"

"$python" -m pip install --quiet --upgrade pip
if ! ls "$wheels"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_CPP_VERSION for this machine (about 5-7 minutes on 2 cores)..."
  mkdir -p "$wheels.tmp"
  CMAKE_ARGS="$cmake_args" "$python" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$wheels.tmp" "llama-cpp-python==$LLAMA_CPP_VERSION"
  rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
fi
"$python" -m pip install --quiet "$wheels"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
"$python" -m pip install --quiet -e ".[dev]"

# Assemble the default model and run one forward pass, so that a bad build fails here, clearly.
"$python" -m tot doctor
