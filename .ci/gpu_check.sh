#!/usr/bin/env bash
# The checks that need a GPU, as prepared steps for a device machine that has Python 3.12,
# torch, numpy, matplotlib, tqdm and pytest but no Jupyter and no network:
#
#   here:       make wheels                 (.whl/1, .whl/2: the rest, at most 60 MiB each)
#   device, 1:  carry .whl/1   bash .ci/gpu_check.sh install tests bench
#   device, 2:  carry .whl/2   bash .ci/gpu_check.sh install pages
#
# Steps, in the order given:
#   install  pip-installs the carried wheels into _build/site (ignored, so it stays on the
#            machine between calls while the machine is warm); every step puts it on PYTHONPATH
#   tests    the unit tests that exercise CUDA (graphs, training loop, runtime, checks, layers)
#   bench    bench/lstm_bench.py --device cuda: eager, graphed and cuDNN side by side
#   pages    every book page with .ci/run_notebooks.py, six kernels, at the device's scale
#            (pages1/2 and pages2/2: every other page, to split the run over two calls;
#            SCALE=cpu bash .ci/gpu_check.sh pages runs them at the CPU's sizes, which every
#            page must also pass on a GPU)
# Output goes to $OUT (the device tool brings it back) or _build/gpu; the exit status is that
# of the first step that failed.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-_build/gpu}
site=$PWD/_build/site
mkdir -p "$out" "$site"
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$site/bin:$PATH"
status=0
fail() { [ "$status" -ne 0 ] || status=$1; }
note() { echo "== $* ($(date +%T))" | tee -a "$out/steps.txt"; }
for step in "$@"; do
    case $step in
    install)
        note install
        wheels=(.whl/*/*.whl .whl/*.whl)
        found=()
        for w in "${wheels[@]}"; do [ -f "$w" ] && found+=("$w"); done
        if [ ${#found[@]} -eq 0 ]; then
            echo "no wheels carried (.whl/N/*.whl)" | tee -a "$out/steps.txt"
            fail 1
            continue
        fi
        python -m pip install --quiet --no-index --no-deps --upgrade --target "$site" \
            "${found[@]}" 2>&1 | tail -5 | tee "$out/install.txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || fail 1
        python - <<'PY' 2>&1 | tee "$out/device.txt"
import importlib.util

import torch

from seqcourse.runtime import describe

print(describe())
print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device")
wanted = ["nbclient", "ipykernel", "ipywidgets", "hmmlearn", "sklearn", "gensim", "sacrebleu"]
print("missing:", [m for m in wanted if importlib.util.find_spec(m) is None] or "none")
PY
        ;;
    tests)
        note tests
        timeout 240 python -m pytest -q -p no:cacheprovider -o addopts="" \
            tests/test_graphs.py tests/test_train.py tests/test_runtime.py tests/test_checks.py \
            tests/test_gated.py tests/test_rnn.py tests/test_memory.py 2>&1 | tail -40 \
            | tee "$out/tests.txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || fail 2
        ;;
    bench)
        note bench
        timeout 240 python bench/lstm_bench.py --device cuda 2>&1 | tee "$out/lstm_bench.txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || fail 3
        ;;
    pages | pages[1-9]/[1-9])
        # "pages" runs every page; "pages1/2" and "pages2/2" split them over two calls
        note "$step"
        part=${step#pages}
        tag=${part/\//of}${SCALE:+-$SCALE}
        timeout 540 python .ci/run_notebooks.py --jobs 6 ${part:+--part "$part"} \
            ${SCALE:+--scale "$SCALE"} --json "$out/notebooks$tag.json" 2>&1 \
            | tee "$out/notebooks$tag.txt"
        [ "${PIPESTATUS[0]}" -eq 0 ] || fail 4
        ;;
    *)
        echo "unknown step $step (install, tests, bench, pages)"
        exit 64
        ;;
    esac
done
note "done, status $status"
exit "$status"
