#!/usr/bin/env bash
# One GPU session's checks, prepared to run in a single call of about 9 minutes on one H200:
#   1. benchmarks.cuda_check: the CUDA paths (mixup/CutMix ops, losses, tokens, FGSM/PGD, bf16-mixed ResNet-18
#      and the step cost of MixupCallback), about 2 minutes;
#   2. experiments.gan.full_scale: PacGAN's own widths (4×400 BN generator, 3×200 maxout-5 discriminator) on the
#      CPU long run's schedule (lr 1e-3, at most 40,000 iterations, 5 seeds, ERM and the paper's mixup), within a
#      GAN_BUDGET-second budget per worker (less if step 1 ran long: the script ends within TOTAL seconds).
# Everything lands in $OUT (the device tool's output folder; default /tmp/gpu-session).
#
#     bash benchmarks/gpu_session.sh                       # on the GPU machine
#     DRY=1 GAN_BUDGET=20 bash benchmarks/gpu_session.sh   # a dry run of the same steps on the CPU
set -u
OUT=${OUT:-/tmp/gpu-session}
GAN_BUDGET=${GAN_BUDGET:-300}
TOTAL=${TOTAL:-560}  # seconds the whole script may take: the GAN budget shrinks if the checks ran long
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -n "${DRY:-}" ]; then
    device=cpu check_args=(--quick) model=(--model '{"g_hidden": 16, "d_hidden": 8}')
else
    device=cuda check_args=() model=()
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.txt"
fi
"$PYTHON" -c "import torch, lightning, torchmetrics, torchattacks; print('torch', torch.__version__, \
'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__, 'torchattacks', torchattacks.__version__)" \
    | tee "$OUT/versions.txt"

start=$SECONDS
timeout 240 "$PYTHON" -m benchmarks.cuda_check --device "$device" "${check_args[@]}" --out "$OUT" 2>&1 \
    | tee "$OUT/cuda_check.log"
echo "cuda_check: $((SECONDS - start)) s"

budget=$((TOTAL - SECONDS - 60))
budget=$((budget < GAN_BUDGET ? budget : GAN_BUDGET))
echo "GAN budget per worker: $budget s"
start=$SECONDS
gan_out=experiments/results/gan/full_scale
rm -rf "$gan_out"
timeout $((budget + 50)) "$PYTHON" -m experiments.gan.full_scale --device "$device" --only pacgan --lr 1e-3 \
    --max-iterations 40000 --name pacgan_full_long --budget "$budget" --out "$gan_out" "${model[@]}" 2>&1 \
    | tee "$OUT/full_scale.log"
echo "full_scale: $((SECONDS - start)) s"
tar czf "$OUT/full_scale.tgz" --exclude="*.pt" --exclude="*.plan" -C experiments/results/gan full_scale
tar czf "$OUT/full_scale_runs.tgz" --exclude="*.png" -C experiments/results/gan full_scale
ls -la "$OUT"
