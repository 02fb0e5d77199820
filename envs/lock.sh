#!/usr/bin/env bash
# Regenerates envs/constraints.txt, the lock of the test environment that README command 1 and
# .ci/run install with `pip install -c envs/constraints.txt`.
#
# In a throwaway venv it installs what README command 1 installs (torch first, then
# `-e ".[test]"`), constrained only by the `name==version` pins of envs/*.yaml, and writes
# `pip freeze` of the result: every package pinned, neurodiff itself left out and torch's local
# build label dropped (2.13.0+cpu -> 2.13.0, so that both the CPU and the CUDA build satisfy it).
# Change a version in envs/*.yaml (all five files alike), run `bash envs/lock.sh` with the
# Python 3.11 on Linux x86-64 that CI uses, commit both; tests/test_envs.py checks they agree.
#
# It needs the CPU build of torch: where pip finds none on disk, run it with
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (2.13.0+cpu outranks PyPI's 2.13.0).
# It stops rather than lock a CUDA build's nvidia-* packages.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed -n 's/^ *- \([A-Za-z0-9._-]*==[^ ]*\)$/\1/p' envs/*.yaml | sort -u >"$work/pins.txt"
torch_pin=$(grep '^torch==' "$work/pins.txt")

python3 -m venv "$work/venv"
. "$work/venv/bin/activate"
python -m pip install --quiet -c "$work/pins.txt" "$torch_pin"
python -W ignore -c "import torch, sys; sys.exit(f'CUDA build of torch {torch.__version__} installed: see envs/lock.sh' if torch.version.cuda else 0)"
python -m pip install --quiet -c "$work/pins.txt" -e ".[test]"
python -m pip check

{
    echo "# Lock of the test environment: every package that README command 1 installs, at the version CI"
    echo "# tests. README command 1 and .ci/run both install with \`pip install -c envs/constraints.txt ...\`."
    echo "# The direct dependencies' pins equal envs/*.yaml; tests/test_envs.py checks that, and that the"
    echo "# installed versions are these. torch is pinned without a build label (CPU or CUDA build alike);"
    echo "# neurodiff (the -e install) and nlb-tools (installed with --no-deps by the test command) are not"
    echo "# listed. Made on $(python -c 'import platform; print("Python", platform.python_version(), platform.system(), platform.machine())')."
    echo "# Regenerate (after changing a pin in envs/*.yaml): bash envs/lock.sh"
    python -m pip freeze --exclude-editable | sed 's/^\(torch==[^+]*\)+.*$/\1/'
} >"$work/constraints.txt"
if grep -qiE '^(nvidia-|triton==)' "$work/constraints.txt"; then
    echo "envs/lock.sh: the lock names CUDA packages; not written" >&2
    exit 1
fi
mv "$work/constraints.txt" envs/constraints.txt
echo "wrote envs/constraints.txt ($(grep -cv '^#' envs/constraints.txt) packages)"
