#!/usr/bin/env bash
# Flux-Orbit hook: runs from the repo root before the app starts, on every instance.
# Migrations must run once per deploy, not once per instance, so only peer 0 (or a lone
# instance, where Flux sets no FLUX_PEER_INDEX) applies them; the others skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

peer="${FLUX_PEER_INDEX:-0}"
if [[ "$peer" != "0" ]]; then
  echo "pre-deploy: instance $peer skips migrations (instance 0 applies them)"
  exit 0
fi

echo "pre-deploy: applying migrations"
if [[ -x target/release/orbit ]]; then
  exec target/release/orbit migrate up
else
  exec cargo run --release --bin orbit -- migrate up
fi
