#!/usr/bin/env bash
# Proves the deploy path on this machine with podman: builds the Dockerfile's `migrate` and
# default `runtime` images, migrates a fresh Postgres database with the first (twice: the second
# run is a no-op), boots the second in production mode with only the minimal environment, and
# checks what a platform relies on: /health, the HEALTHCHECK, a non-root user, tini as PID 1,
# serving from a read-only root (nothing written outside /tmp), JSON logs, a clean exit 0 on SIGTERM within 10 s, and a
# boot error naming DATABASE_URL when it is missing. Removes its containers, database and tags.
#
#   deploy/check-image.sh        # Postgres at POSTGRES_ADMIN_URL (default the local one)
#
# Needs podman with local base images: deploy/podman-setup.sh (or the workspace copy) sets them up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

admin_url=${POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
id=$$
tag=localhost/orbit-check-$id
database=orbit_image_$id
name=orbit-check-$id
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret=image-check-secret-0123456789abcdef0123456789

log() { printf '[check-image %ss] %s\n' "$SECONDS" "$*"; }
fail() { printf '[check-image] FAILED: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

cleanup() {
  podman rm -f "$name" "$name-nodb" >/dev/null 2>&1 || true
  podman rmi -f "$tag" "$tag-migrate" >/dev/null 2>&1 || true
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ -z "${CONTAINERS_STORAGE_CONF:-}" ]]; then
  # The workspace's setup script when this checkout sits beside it, else the vendored copy.
  setup=$root/../shared/tools/container-images.sh
  [[ -f "$setup" ]] || setup=$root/deploy/podman-setup.sh
  # shellcheck disable=SC1090
  source <(bash "$setup") || fail "podman could not be set up ($setup)"
fi
command -v psql >/dev/null || fail "psql is required"

log "building the migrate image"
started=$SECONDS
podman build --format docker --target migrate -t "$tag-migrate" . >"/tmp/$name-build.log" 2>&1 \
  || { tail -40 "/tmp/$name-build.log"; fail "migrate image build"; }
migrate_build=$((SECONDS - started))
log "building the runtime image"
started=$SECONDS
podman build --format docker -t "$tag" . >>"/tmp/$name-build.log" 2>&1 \
  || { tail -40 "/tmp/$name-build.log"; fail "runtime image build"; }
runtime_build=$((SECONDS - started))
size_mb=$(( $(podman image inspect "$tag" --format '{{.Size}}') / 1000000 ))

psql "$admin_url" -qc "CREATE DATABASE $database" >/dev/null
database_url=$(python3 - "$admin_url" "$database" <<'PY'
import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
print(u.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
)

log "migrate (first run applies, second is a no-op)"
podman run --rm --network=host -e DATABASE_URL="$database_url" "$tag-migrate" >"/tmp/$name-migrate.log" 2>&1 \
  || { cat "/tmp/$name-migrate.log"; fail "migrate exited non-zero"; }
grep -q "has been applied" "/tmp/$name-migrate.log" || fail "the first migrate applied nothing"
podman run --rm --network=host -e DATABASE_URL="$database_url" "$tag-migrate" >"/tmp/$name-migrate.log" 2>&1 \
  || { cat "/tmp/$name-migrate.log"; fail "second migrate exited non-zero"; }
grep -q "has been applied" "/tmp/$name-migrate.log" && fail "the second migrate applied something"

log "boot in production with the minimal environment, on a read-only root (only /tmp writable)"
launched=$(now_ms)
podman run -d --name "$name" --network=host --read-only --read-only-tmpfs \
  -e DATABASE_URL="$database_url" -e AUTH_SECRET="$secret" -e PORT="$port" \
  -e API_ORIGIN=https://api.orbit.test -e WEB_ORIGIN=https://app.orbit.test \
  -e WWW_ORIGIN=https://orbit.test "$tag" >/dev/null
until curl -fs "http://127.0.0.1:$port/health" >/dev/null; do
  (( $(now_ms) - launched < 30000 )) || { podman logs "$name"; fail "no /health within 30 s"; }
  sleep 0.01
done
first_200_ms=$(( $(now_ms) - launched ))
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || fail "/ready is not 200"
curl -fs "http://127.0.0.1:$port/v1/config" >/dev/null || fail "/v1/config is not 200"

podman healthcheck run "$name" >/dev/null || fail "the image's HEALTHCHECK failed"
[[ $(podman exec "$name" id -u) != 0 ]] || fail "the server runs as root"
pid1=$(podman exec "$name" cat /proc/1/cmdline | tr '\0' ' ')
[[ $pid1 == /usr/bin/tini* ]] || fail "PID 1 is not tini: $pid1"
podman exec "$name" sh -c 'cat /proc/[0-9]*/cmdline' | tr '\0' ' ' | grep -q "/usr/local/bin/orbit serve" \
  || fail "orbit serve is not running under tini"
[[ $(podman image inspect "$tag" --format '{{.Config.Env}}') == *APP_ENV=production* ]] \
  || fail "APP_ENV=production is not set in the image"
podman exec "$name" sh -c 'command -v cargo rustc gcc' >/dev/null 2>&1 && fail "build tools in the runtime image"

log "SIGTERM"
stop_started=$(now_ms)
podman stop -t 10 "$name" >/dev/null
stop_ms=$(( $(now_ms) - stop_started ))
exit_code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[[ $exit_code == 0 ]] || fail "exit code $exit_code after SIGTERM (137 means it was killed)"
(( stop_ms < 10000 )) || fail "took ${stop_ms} ms to stop"
podman logs "$name" >"/tmp/$name-run.log" 2>&1
python3 - "/tmp/$name-run.log" <<'PY' || fail "the logs are not JSON lines"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
records = [json.loads(l) for l in lines]
assert any(r.get("target") == "orbit::request" and r.get("route") == "/v1/config" for r in records)
PY

log "boot without DATABASE_URL must fail, naming it"
if podman run --name "$name-nodb" --network=host -e AUTH_SECRET="$secret" \
  -e API_ORIGIN=https://api.orbit.test -e WEB_ORIGIN=https://app.orbit.test \
  -e WWW_ORIGIN=https://orbit.test "$tag" >"/tmp/$name-nodb.log" 2>&1; then
  fail "booted without DATABASE_URL"
fi
grep -q DATABASE_URL "/tmp/$name-nodb.log" || fail "the boot error does not name DATABASE_URL"

rm -f "/tmp/$name"-*.log
cat <<REPORT
image check passed
  migrate image build   ${migrate_build} s
  runtime image build   ${runtime_build} s
  runtime image size    ${size_mb} MB
  podman run → 200      ${first_200_ms} ms
  SIGTERM → exit 0      ${stop_ms} ms
REPORT
