#!/usr/bin/env bash
# Static checks of terraform/ without a terraform binary (the package registries this project
# uses have none):
#   1. scripts/terraform-lint.py: every .tf file parses with python-hcl2 (an error names the
#      file), and variables, locals, resources, module arguments and module outputs that the
#      files refer to exist;
#   2. checkov over terraform/: no failed check. Checks that do not fit are skipped inline
#      (#checkov:skip=CKV_...:reason) next to the resource, each with its reason.
# Idempotent. checkov and python-hcl2 both ship a Python package named `hcl2` (checkov's is
# the bc-python-hcl2 fork), so each gets a virtualenv of its own under
# ${SHOPFLEET_TOOLS_DIR:-~/.cache/shopfleet/terraform-tools}, made with pip on first use and
# again only when the pinned version below changes.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
PYTHON_HCL2_VERSION=8.1.4
TOOLS="${SHOPFLEET_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shopfleet/terraform-tools}"

# ensure_venv DIR REQUIREMENT: a virtualenv in DIR with exactly REQUIREMENT installed.
ensure_venv() {
  local dir=$1 requirement=$2
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirement" 2>/dev/null)" = "$requirement" ]; then
    return
  fi
  echo "==> installing $requirement with pip into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$requirement"
  echo "$requirement" >"$dir/.requirement"
}

ensure_venv "$TOOLS/python-hcl2" "python-hcl2==$PYTHON_HCL2_VERSION"
ensure_venv "$TOOLS/checkov" "checkov==$CHECKOV_VERSION"

echo "==> terraform: parse and cross-check (python-hcl2 $PYTHON_HCL2_VERSION)"
"$TOOLS/python-hcl2/bin/python" scripts/terraform-lint.py terraform

echo "==> terraform: checkov $CHECKOV_VERSION"
# --skip-download: no calls to the vendor's platform (offline, and faster). Exit status 1 on
# any failed check.
"$TOOLS/checkov/bin/checkov" --directory terraform --framework terraform --compact --quiet \
  --skip-download
