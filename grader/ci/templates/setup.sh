#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# It installs Python 3.11+ in a virtual environment, the CPU build of torch at the version the
# zip was built with, and the grader's other requirements. The grader itself is not installed:
# run_autograder runs it from /autograder/source, where it lies beside its assets.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv  # Ubuntu 22.04 ships 3.10
    PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install -r "$SOURCE/torch-requirement.txt" --index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/python" -m pip install -r "$SOURCE/requirements.txt"
"$ROOT/venv/bin/python" -c "import torch, torchdiffeq, scipy, sklearn, matplotlib, nbformat; print('torch', torch.__version__)"
