#!/usr/bin/env bash
# Runs every Go fuzz target in the workspace for a bounded time each.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
for m in shared bff-web bff-mobile; do
  (cd "$m"
   for pkg in $(go list ./...); do
     dir=$(go list -f '{{.Dir}}' "$pkg")
     for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
       echo "== fuzz $pkg $fz ($t)"
       go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$t" "$pkg"
     done
   done)
done
