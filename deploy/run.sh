#!/usr/bin/env bash
# Starts the sandbox (five upstream services on 8001-8005) and both BFFs in
# the foreground; Ctrl-C (or any one of them exiting) stops all three.
#
# Each of them runs in a process group of its own, so that Ctrl-C reaches
# this script only: it then sends each BFF one SIGTERM, waits for their
# drain (in-flight requests, checkouts included, finish against a sandbox
# still running), and stops the sandbox last. A second Ctrl-C is passed on
# as a second signal, on which the BFFs end at once.
#
# The BFFs listen where BFF_WEB_ADDR and BFF_MOBILE_ADDR say (default :8080
# and :8090), and the sandbox where its SANDBOX_*_ADDR say; the readiness
# wait, the URLs printed and the BFFs' UPSTREAM_*_URLS (unless set) follow
# them (a port 0 cannot be followed and is refused). ADMIN_ADDR is refused: both BFFs would get it, and the second
# could not listen; they keep their own defaults, 127.0.0.1:9180 and
# 127.0.0.1:9190.
#
# The sandbox starts empty every time, so the BFFs must not recover the
# checkouts an earlier run left in their state files: unless STATE_DIR is
# set, they get a fresh temporary one, removed on exit. Set STATE_DIR to
# keep their state across runs (it is then left in place).
set -euo pipefail
bin=${1:-./bin}

# url_of ADDR prints the URL that reaches the listen address ADDR
# (host:port) from this host: a wildcard host is reached on the loopback.
url_of() {
  local host=${1%:*} port=${1##*:}
  case $host in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
  if [ "$1" = "$port" ] || ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -eq 0 ]; then
    echo "run.sh: listen address \"$1\": want host:port with a fixed port" >&2
    return 1
  fi
  echo "http://$host:$port"
}

if [ -n "${ADMIN_ADDR:-}" ]; then
  echo "run.sh: ADMIN_ADDR would be given to both BFFs, and the second could not listen; unset it" >&2
  exit 2
fi
web_url=$(url_of "${BFF_WEB_ADDR:-:8080}")
mobile_url=$(url_of "${BFF_MOBILE_ADDR:-:8090}")
sandbox_addrs=()
for svc in PRODUCT:8001 ORDER:8002 PAYMENT:8003 USER:8004 NOTIFICATION:8005; do
  var=SANDBOX_${svc%:*}_ADDR
  addr=${!var:-127.0.0.1:${svc#*:}}
  url=$(url_of "$addr")
  sandbox_addrs+=("$addr")
  # The BFFs call the sandbox where it listens, unless told otherwise.
  upstream=UPSTREAM_${svc%:*}_URLS
  if [ -z "${!upstream:-}" ]; then export "$upstream=$url"; fi
done

sandbox= bffs=() made_state_dir= signals=0
# on_signal counts SIGINT and SIGTERM: the first ends the wait below and so
# starts the stop; a later one is passed on to the BFFs, which end at once.
on_signal() {
  signals=$((signals + 1))
  if [ "$signals" -gt 1 ] && [ "${#bffs[@]}" -gt 0 ]; then
    kill -TERM "${bffs[@]}" 2>/dev/null || true
  fi
}
# stop sends one SIGTERM to each BFF and waits for it to drain, then stops
# the sandbox, which served the drain.
stop() {
  trap - EXIT
  trap on_signal INT TERM
  signals=$((signals > 0 ? signals : 1))
  if [ "${#bffs[@]}" -gt 0 ]; then
    kill -TERM "${bffs[@]}" 2>/dev/null || true
    for p in "${bffs[@]}"; do
      # A signal interrupts wait: wait again until the process is gone.
      while kill -0 "$p" 2>/dev/null; do wait "$p" 2>/dev/null || true; done
    done
  fi
  if [ -n "$sandbox" ]; then
    kill -TERM "$sandbox" 2>/dev/null || true
    while kill -0 "$sandbox" 2>/dev/null; do wait "$sandbox" 2>/dev/null || true; done
  fi
  # Only after the BFFs have exited and closed their state files.
  if [ -n "$made_state_dir" ]; then rm -rf -- "$made_state_dir"; fi
}
trap on_signal INT TERM
trap stop EXIT

if [ -z "${STATE_DIR:-}" ]; then
  made_state_dir=$(mktemp -d "${TMPDIR:-/tmp}/storefront-state.XXXXXX")
  STATE_DIR=$made_state_dir
fi
export STATE_DIR

# Job control puts each background process in a process group of its own,
# out of the reach of the terminal's Ctrl-C; it is on only while they start,
# so that this script's own commands stay in its group.
set -m
"$bin/sandbox" &
sandbox=$!
set +m
for addr in "${sandbox_addrs[@]}"; do
  host=${addr%:*}
  case $host in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
  host=${host#[}
  host=${host%]}
  for _ in $(seq 1 100); do
    [ "$signals" -eq 0 ] || exit 130
    (echo >"/dev/tcp/$host/${addr##*:}") 2>/dev/null && break
    sleep 0.05
  done
done
set -m
BFF_COOKIE_SECURE=${BFF_COOKIE_SECURE:-false} "$bin/bff-web" &
bffs+=($!)
"$bin/bff-mobile" &
bffs+=($!)
set +m

for url in "$web_url/readyz" "$mobile_url/readyz"; do
  ready=
  for _ in $(seq 1 200); do
    [ "$signals" -eq 0 ] || exit 130
    if curl -fs "$url" >/dev/null 2>&1; then ready=1 && break; fi
    sleep 0.05
  done
  if [ -z "$ready" ]; then
    echo "run.sh: $url is not ready after 10s; see the logs above" >&2
    exit 1
  fi
done

cat <<TXT

  Storefront is running. Ctrl-C stops everything.

  bff-web     $web_url   (OpenAPI: /openapi.json, health: /healthz /readyz)
              admin http://127.0.0.1:9180  (/metrics, /debug/pprof/)
  bff-mobile  $mobile_url   admin http://127.0.0.1:9190
  sandbox     product ${sandbox_addrs[0]}  order ${sandbox_addrs[1]}  payment ${sandbox_addrs[2]}
              user ${sandbox_addrs[3]}  notification ${sandbox_addrs[4]}
              (each has GET /__admin/state, POST /__admin/faults, POST /__admin/reset)

  Try it (mobile):
    TOKEN=\$(curl -s -X POST $mobile_url/v1/auth/token \\
      -H 'Content-Type: application/json' \\
      -d '{"email":"ada@example.com","password":"correct-horse"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    curl -s -X POST $mobile_url/v1/orders \\
      -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
      -H "Idempotency-Key: \$(date +%s%N)" \\
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
# Until a signal, or until one of the three exits.
while [ "$signals" -eq 0 ]; do
  wait -n 2>/dev/null && break || true
  # wait -n returns non-zero for a signal and for a process that failed.
  for p in "$sandbox" "${bffs[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
done
