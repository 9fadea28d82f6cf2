#!/usr/bin/env bash
# Starts the sandbox (five upstream services on 8001-8005) and both BFFs in
# the foreground; Ctrl-C (or any one of them exiting) stops all three.
#
# The sandbox starts empty every time, so the BFFs must not recover the
# checkouts an earlier run left in their state files: unless STATE_DIR is
# set, they get a fresh temporary one, removed on exit. Set STATE_DIR to
# keep their state across runs (it is then left in place).
set -euo pipefail
bin=${1:-./bin}
pids=()
made_state_dir=
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  # Only after the BFFs have exited and closed their state files.
  if [ -n "$made_state_dir" ]; then rm -rf -- "$made_state_dir"; fi
}
trap stop INT TERM EXIT

if [ -z "${STATE_DIR:-}" ]; then
  made_state_dir=$(mktemp -d "${TMPDIR:-/tmp}/storefront-state.XXXXXX")
  STATE_DIR=$made_state_dir
fi
export STATE_DIR

"$bin/sandbox" & pids+=($!)
for port in 8001 8002 8003 8004 8005; do
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.05
  done
done
BFF_COOKIE_SECURE=${BFF_COOKIE_SECURE:-false} "$bin/bff-web" & pids+=($!)
"$bin/bff-mobile" & pids+=($!)

for url in http://127.0.0.1:8080/readyz http://127.0.0.1:8090/readyz; do
  for _ in $(seq 1 200); do
    curl -fs "$url" >/dev/null 2>&1 && break
    sleep 0.05
  done
done

cat <<'TXT'

  Storefront is running. Ctrl-C stops everything.

  bff-web     http://127.0.0.1:8080   (OpenAPI: /openapi.json, health: /healthz /readyz)
              admin http://127.0.0.1:9180  (/metrics, /debug/pprof/)
  bff-mobile  http://127.0.0.1:8090   admin http://127.0.0.1:9190
  sandbox     product :8001  order :8002  payment :8003  user :8004  notification :8005
              (each has GET /__admin/state, POST /__admin/faults, POST /__admin/reset)

  Try it (mobile):
    TOKEN=$(curl -s -X POST http://127.0.0.1:8090/v1/auth/token \
      -H 'Content-Type: application/json' \
      -d '{"email":"ada@example.com","password":"correct-horse"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    curl -s -X POST http://127.0.0.1:8090/v1/orders \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -H "Idempotency-Key: $(date +%s%N)" \
      -d '{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}'

  The web session (cookie and CSRF token) is shown in README.md, "Calling bff-web".

TXT
if [ -n "${REDIS_URL:-}" ]; then
  echo "  BFF checkout journals in Redis (REDIS_URL)"
elif [ -n "$made_state_dir" ]; then
  echo "  BFF state files in $STATE_DIR (removed on exit; set STATE_DIR to keep them)"
else
  echo "  BFF state files in $STATE_DIR"
fi
echo
wait -n
