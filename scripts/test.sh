#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test on SQLite and on PostgreSQL.
#
# PostgreSQL: uses $FERROCAT_TEST_PG when set; otherwise creates the database
# `ferrocat_test` on $FERROCAT_TEST_PG_ADMIN (default: the local server on
# 127.0.0.1:5432 as `postgres`, trust auth). Without a reachable server the PostgreSQL
# variants are skipped with a notice, except under CI, where that is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FERROCAT_TEST_PG:-}" ]; then
  admin="${FERROCAT_TEST_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
  if command -v psql >/dev/null 2>&1 && psql "$admin" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    psql "$admin" -q -c 'DROP DATABASE IF EXISTS ferrocat_test WITH (FORCE)' -c 'CREATE DATABASE ferrocat_test'
    export FERROCAT_TEST_PG="${admin%/*}/ferrocat_test"
    echo "PostgreSQL tests run against ${FERROCAT_TEST_PG}"
  elif [ -n "${CI:-}" ]; then
    echo "error: PostgreSQL is required in CI and ${admin} does not answer" >&2
    exit 1
  else
    echo "notice: no PostgreSQL at ${admin}: the PostgreSQL variants of the storage tests are skipped"
  fi
fi

# ffmpeg and poppler-utils for the video and PDF tests (installed with apt if missing)
. scripts/media-tools.sh
install_media_tools || [ -z "${CI:-}" ] || exit 1

# Python tools for the tests, each in a venv under target/ rebuilt when its pinned
# requirements change: the format consumers (pycocotools, Datumaro) of the
# import/export tests, Schemathesis for the OpenAPI fuzzing, and CVAT's own v2 clients
# (cvat-sdk, cvat-cli 2.80).
make_venv() { # requirements file, venv folder, what it is for
  local req="$1" venv="$2"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
    echo "creating the Python venv $venv ($3)"
    rm -rf "$venv"
    if python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"; then
      cp "$req" "$venv/requirements.txt"
    elif [ -n "${CI:-}" ]; then
      echo "error: could not install $req" >&2
      exit 1
    else
      echo "notice: could not install $req: $3 is skipped"
      rm -rf "$venv"
    fi
  fi
}
make_venv crates/server/tests/python/requirements.txt target/test-venv "the checks by pycocotools and Datumaro"
make_venv crates/server/tests/python/schemathesis.txt target/schemathesis-venv "the Schemathesis run"
make_venv crates/server/tests/python/cvat-cli.txt target/cvat-venv "the cvat-sdk/cvat-cli 2.80 checks"
for tool in "target/test-venv/bin/python:FERROCAT_TEST_PYTHON" "target/schemathesis-venv/bin/schemathesis:FERROCAT_TEST_SCHEMATHESIS" \
    "target/cvat-venv/bin/cvat-cli:FERROCAT_TEST_CVAT_CLI"; do
  path="${tool%%:*}" var="${tool##*:}"
  if [ -x "$path" ]; then
    export "$var=$PWD/$path"
  elif [ -n "${CI:-}" ]; then
    echo "error: no $path for the tests" >&2
    exit 1
  fi
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

# The browser application (web/): JSDoc types, unit tests of its logic, and end-to-end
# tests driving Debian's Chromium (playwright-core) against the ferrocat binary.
(cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd web && npx tsc -p jsconfig.json)
(cd web && node --test tests/unit/)
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  cargo build --locked -p ferrocat
  (cd web && CHROMIUM="$chromium" FERROCAT_BIN="$PWD/../target/debug/ferrocat" \
    node --test --test-concurrency=1 tests/e2e/)
elif [ -n "${CI:-}" ]; then
  echo "error: Chromium is required in CI ($chromium)" >&2
  exit 1
else
  echo "notice: no Chromium at $chromium (apt-get install chromium): browser tests skipped"
fi
