#!/usr/bin/env bash
# scripts/cost-model.py: its arithmetic against hand-computed cases, then one run on the
# committed measurements (docs/cost/measured.json) to show the CLI still works.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
python3 -m unittest -q scripts/tests/test_cost_model.py
python3 scripts/cost-model.py docs/cost/measured.json >/dev/null
echo "ok: cost model"
