#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU from the bundle
# `make gpu-bundle` builds (bin/gpu-check: this script, sslens and the GPU
# executor's test binary, built without cgo; no Go needed there):
#
#	bin/gpu-check/check.sh OUT
#
# It checks every kernel of the executor against the CPU engine (the
# executor's tests on the GPU: forward, backward, a ViT-S/8 training step,
# dropout), then times ViT-S/8 training steps and scoring passes against
# PyTorch on the same GPU, sampling utilisation and memory with nvidia-smi.
# Everything goes under OUT; the summary is printed last and written to
# OUT/summary.txt. PYTHON (default python3) is the interpreter with torch.
set -uo pipefail
out=${1:?usage: check.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
mkdir -p "$out"
# NVRTC and cuBLAS may sit outside the linker's path (a toolkit under
# /usr/local, or PyTorch's wheels under /opt): look once and tell sslens.
if [ -z "${SSLENS_CUDA_LIB:-}" ]; then
	SSLENS_CUDA_LIB=$(for lib in libnvrtc.so libcublas.so; do
		timeout 30 find /usr /opt -name "$lib*" 2>/dev/null | head -1 | xargs -r dirname
	done | sort -u | paste -sd:)
	export SSLENS_CUDA_LIB
fi
echo "SSLENS_CUDA_LIB=$SSLENS_CUDA_LIB" >"$out/environment.txt"
nvidia-smi >>"$out/environment.txt" 2>&1
# What sslens finds, and the kernels compiled once for the GPU (NVRTC's
# log is here when it refuses them).
timeout 60 "$here/sslens" gpus >"$out/gpus.txt" 2>&1
echo "sslens gpus: exit $?" >>"$out/gpus.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,memory.total --format=csv -lms 200 >"$out/utilisation.csv" 2>&1 &
smi=$!
trap 'kill $smi 2>/dev/null' EXIT

mark() { date +%s.%N >"$out/$1.start"; }
SSLENS_GPU_REQUIRED=1 timeout 150 "$here/gpu.test" -test.v -test.count=1 >"$out/kernels.txt" 2>&1
kernels=$?
bench() {
	name=$1
	shift
	mark "$name"
	timeout 60 "$here/sslens" bench --device cuda --presets vit_small --steps 20 --vs-torch --python "$python" "$@" >"$out/$name.txt" 2>&1
	echo "$name: exit $?" >>"$out/bench-status.txt"
	date +%s.%N >"$out/$name.end"
}
bench train-fp32 --batch 256
bench train-tf32 --batch 256 --tf32
bench score-fp32 --batch 1024 --inference
bench score-tf32 --batch 1024 --inference --tf32
kill $smi 2>/dev/null

{
	echo "== sslens gpus"
	head -c 3000 "$out/gpus.txt"
	echo "== kernel checks (gpu.test, exit $kernels)"
	grep -E '^(--- |ok|FAIL|PASS)|step [0-9]: loss|P\(lens\)|directional|features differ|gradient of' "$out/kernels.txt" | head -40
	for name in train-fp32 train-tf32 score-fp32 score-tf32; do
		echo "== $name"
		grep -E 'vit_small|torch |ours / torch|device ' "$out/$name.txt"
		# Utilisation while it ran: the mean of nvidia-smi's samples.
		awk -F', ' -v s="$(cat "$out/$name.start")" -v e="$(cat "$out/$name.end")" '
			NR > 1 { cmd = "date -d \"" $1 "\" +%s.%N"; cmd | getline t; close(cmd)
				if (t >= s && t <= e) { n++; u += $2; if ($3 + 0 > m) m = $3 + 0 } }
			END { if (n) printf "GPU utilisation %.0f%% (mean of %d samples), memory used up to %d MiB\n", u / n, n, m }' "$out/utilisation.csv"
	done
	cat "$out/bench-status.txt"
} | tee "$out/summary.txt"
