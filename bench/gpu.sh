#!/usr/bin/env bash
# Absolute figures on a GPU in one short run: the CUDA build of llama-cpp-python and of
# llama-server, then `bench shapes` (the 1.5B- and 7B-shaped models), `bench batching`,
# `bench load` and `bench speculative` on them. Written for a machine with nvcc, cmake and a
# Python that has no package registry (the device machines this project is lent: see
# BENCHMARKS.md, "On a GPU"); everything it installs is carried in .gpu/ (under 64 MiB).
#
#   bash bench/gpu.sh prepare   # here, with a registry: .gpu/ (wheels + a trimmed sdist)
#   bash bench/gpu.sh run       # there, from the repository root, carrying .gpu/
#
# `run` writes bench/results/gpu/*.json and .md and prints the markdown; the GPU's name is
# in every JSON (report.machine) and in gpu.txt. Each step is skipped when its output exists,
# so a second run after a timeout goes on where the first stopped.
set -euo pipefail

VERSION=0.3.36 # llama-cpp-python, as pyproject.toml pins it
CARRY=.gpu
OUT=bench/results/gpu
PY=${PYTHON:-python3}
ARCH=${CUDA_ARCH:-90} # H100/H200; 89 for an L4/4090, 86 for an A10/3090

prepare() {
	rm -rf "$CARRY" && mkdir -p "$CARRY/wheels"
	# The project's pure dependencies and binary wheels for the device's Python (3.12,
	# x86-64 manylinux); what its image has already (numpy, httpx, uvloop, torch...) is left out.
	"$PY" -m pip download --quiet --dest "$CARRY/wheels" --only-binary=:all: \
		--python-version 3.12 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux_2_28_x86_64 --implementation cp --no-deps \
		pygls lsprotocol cattrs msgspec lmdb prometheus-client pathspec gguf tomlkit diskcache \
		"tree-sitter>=0.25,<0.27" tree-sitter-python tree-sitter-javascript tree-sitter-typescript \
		tree-sitter-go tree-sitter-rust tree-sitter-java tree-sitter-c tree-sitter-cpp
	# The sdist without what a build does not read (llama.cpp's vocabulary GGUFs, docs,
	# tests, examples' media): 75 MB -> about 20.
	local scratch
	scratch=$(mktemp -d)
	"$PY" -m pip download --quiet --no-deps --no-binary=:all: --dest "$scratch" "llama-cpp-python==$VERSION"
	tar -xzf "$scratch/llama_cpp_python-$VERSION.tar.gz" -C "$scratch"
	local src="$scratch/llama_cpp_python-$VERSION"
	rm -rf "$src/vendor/llama.cpp/models" "$src/vendor/llama.cpp/docs" "$src/vendor/llama.cpp/media" \
		"$src/vendor/llama.cpp/tests" "$src/vendor/llama.cpp/gguf-py/tests" "$src/docs" "$src/tests"
	mkdir -p "$src/vendor/llama.cpp/models" # CMake lists it
	tar -cJf "$CARRY/llama-cpp-python-src.tar.xz" -C "$scratch" "llama_cpp_python-$VERSION"
	rm -rf "$scratch"
	du -sh "$CARRY"
}

install() {
	if "$PY" -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; then
		return
	fi
	"$PY" -m pip install --quiet --no-index --find-links "$CARRY/wheels" --no-deps "$CARRY"/wheels/*.whl
	local build
	build=$(mktemp -d)
	tar -xJf "$CARRY/llama-cpp-python-src.tar.xz" -C "$build"
	CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
		CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
		"$PY" -m pip install --no-index --no-build-isolation --no-deps "$build/llama_cpp_python-$VERSION"
	"$PY" -m pip install --quiet --no-index --no-build-isolation --no-deps -e .
	rm -rf "$build"
}

peer() {
	# llama-server from the same llama.cpp, with CUDA: bench/peer.py builds it from the sdist.
	local binary
	binary=$("$PY" -c "from bench import peer; print(peer.server_binary() or '')")
	[ -n "$binary" ] && return
	local build
	build=$(mktemp -d)
	tar -xJf "$CARRY/llama-cpp-python-src.tar.xz" -C "$build"
	local source="$build/llama_cpp_python-$VERSION/vendor/llama.cpp"
	cmake -S "$source" -B "$build/server" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=on \
		-DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF >/dev/null
	cmake --build "$build/server" --target llama-server -j "$(nproc)" >/dev/null
	local folder
	folder=$("$PY" -c "from bench import peer; print(peer.cache_dir())")
	mkdir -p "$folder" && cp "$build/server/bin/llama-server" "$folder/llama-server"
	rm -rf "$build"
}

suite() { # name, then the suite's arguments
	local name=$1
	shift
	[ -s "$OUT/$name.json" ] && return
	"$PY" -m bench "$@" --out "$OUT/$name.json"
}

run() {
	mkdir -p "$OUT"
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
	install
	peer
	suite shapes-1.5b shapes --shape 1.5b --type q8_0
	suite shapes-7b shapes --shape 7b --type q4_k_m
	local small big
	small=$("$PY" -c "from bench import shapes; print(shapes.model_path('1.5b', 'q8_0'))")
	big=$("$PY" -c "from bench import shapes; print(shapes.model_path('7b', 'q4_k_m'))")
	suite batching-1.5b batching --model "$small" --threads 8 --gpu-layers -1
	suite batching-7b batching --model "$big" --threads 8 --gpu-layers -1
	suite load-1.5b load --model "$small" --editors 1 2 4 8 --gpu-layers -1
	suite load-7b load --model "$big" --editors 1 2 4 8 --gpu-layers -1
	suite speculative-7b speculative --target "$big" --draft "$small" --gpu-layers -1
	cat "$OUT"/*.md
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*)
	echo "usage: bash bench/gpu.sh prepare|run" >&2
	exit 2
	;;
esac
