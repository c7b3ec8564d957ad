#!/usr/bin/env bash
# Builds and runs ferrocat: embedded SQLite and ./data, nothing else to start. Video
# and PDF data need ffmpeg and poppler-utils: installed with apt first when missing.
# Arguments go to ferrocat, e.g. `./scripts/run.sh --listen 0.0.0.0:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/media-tools.sh
install_media_tools || true
exec cargo run --release -- "$@"
