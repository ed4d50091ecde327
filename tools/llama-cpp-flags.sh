# Sourced by install.sh and tools/build-llama-server.sh: the pinned llama-cpp-python version, the flags llama.cpp
# is compiled with on this machine, and the cache key of a build (version, flags, OS and CPU).
#
# On x86-64 Linux llama.cpp is built for this CPU without AMX kernels: VMs whose CPUs advertise AMX but refuse
# it otherwise die with SIGILL at the first matrix product. On macOS llama.cpp builds with Metal by default.
# Set TOT_CMAKE_ARGS to build with other flags (e.g. CUDA).

LLAMA_CPP_VERSION=0.3.36

if [ -n "${TOT_CMAKE_ARGS:-}" ]; then
  cmake_args=$TOT_CMAKE_ARGS
elif [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake_args="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
else
  cmake_args="-DLLAVA_BUILD=OFF"
fi

cpu=$( (grep -m1 -E 'model name|Hardware' /proc/cpuinfo 2>/dev/null; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; sysctl -n machdep.cpu.brand_string 2>/dev/null) | tr -s ' ' || true)
build_key=$(printf '%s\n%s\n%s\n%s\n' "$LLAMA_CPP_VERSION" "$cmake_args" "$(uname -sm)" "$cpu" | sha256sum 2>/dev/null || printf '%s' "$cmake_args" | shasum -a 256)
build_key=${build_key:0:16}
