#!/usr/bin/env bash
# HyperPod lifecycle entry point (OnCreate), run as root on every instance when the cluster is
# created, scaled up, or an instance is replaced. Safe to run again.
#
#   1. installs hpk8s from the wheel bundle uploaded beside this script (no index, no internet for it)
#   2. runs HyperPod's usual Slurm setup when its scripts were uploaded too (lifecycle_script.py)
#   3. runs `hpk8s bootstrap --role auto`: this instance becomes a Kubernetes controller or worker
#
# Environment (all optional): HPK8S_ROLE (auto), HPK8S_VENV (/opt/hpk8s/venv), HPK8S_PYTHON.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_DIR=/var/log/provision
mkdir -p "$LOG_DIR"
exec > >(tee -a "$LOG_DIR/hpk8s-on-create.log") 2>&1

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on_create: $*"; }
die() { log "error: $*"; exit 1; }

VENV="${HPK8S_VENV:-/opt/hpk8s/venv}"
BUNDLE="$HERE/bundle"
PARAMS="$HERE/provisioning_parameters.json"
export SAGEMAKER_RESOURCE_CONFIG_PATH="${SAGEMAKER_RESOURCE_CONFIG_PATH:-/opt/ml/config/resource_config.json}"

# hpk8s needs Python >= 3.11; Ubuntu 22.04 ships 3.10 as python3 and 3.11 as a package.
find_python() {
  local c
  for c in "${HPK8S_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

install_hpk8s() {
  [[ -d "$BUNDLE" ]] || die "no wheel bundle at $BUNDLE: build it with lcc/build-bundle.sh and upload it with the scripts"
  local py
  if ! py="$(find_python)"; then
    log "no Python >= 3.11: installing python3.11 from the Ubuntu archive"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 python3.11 python3.11-venv
    py=python3.11
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV with $py"
    "$py" -m venv "$VENV" || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "$(basename "$py")-venv"
      "$py" -m venv "$VENV"
    }
  fi
  log "installing hpk8s from $BUNDLE"
  "$VENV/bin/python" -m pip install -q --no-index --find-links "$BUNDLE" --upgrade hyperpod-k8s
  ln -sf "$VENV/bin/hpk8s" /usr/local/bin/hpk8s
}

run_slurm_setup() {
  if [[ -f "$HERE/lifecycle_script.py" ]]; then
    log "running HyperPod's Slurm setup (lifecycle_script.py)"
    (cd "$HERE" && python3 -u lifecycle_script.py -rc "$SAGEMAKER_RESOURCE_CONFIG_PATH" -pp "$PARAMS")
  else
    log "no lifecycle_script.py beside this script: skipping the Slurm setup"
  fi
}

main() {
  log "starting on $(hostname)"
  install_hpk8s
  run_slurm_setup
  local args=(bootstrap --role "${HPK8S_ROLE:-auto}" --provisioning-parameters "$PARAMS")
  [[ -f "$HERE/hpk8s.toml" ]] && args+=(--config "$HERE/hpk8s.toml")
  log "hpk8s ${args[*]}"
  "$VENV/bin/hpk8s" "${args[@]}"
  log "done"
}

main "$@"
