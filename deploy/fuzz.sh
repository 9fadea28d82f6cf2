#!/usr/bin/env bash
# Runs every Go fuzz target in the workspace for a bounded time each.
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# at the end of -fuzztime on a loaded machine without having found anything
# (golang/go#75804, fixed in Go 1.27). Such a run is retried once; a run
# that writes a failing input, or fails in any other way, fails the script.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for m in shared bff-web bff-mobile; do
  (cd "$m"
   for pkg in $(go list ./...); do
     dir=$(go list -f '{{.Dir}}' "$pkg")
     for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
       for try in 1 2; do
         echo "== fuzz $pkg $fz ($t, try $try)"
         if go test -run '^$' -fuzz "^${fz}\$" -fuzztime "$t" "$pkg" 2>&1 | tee "$log"; then
           break
         fi
         if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log" || [ "$try" = 2 ]; then
           echo "fuzz $pkg $fz failed"; exit 1
         fi
         echo "== $fz: bare deadline at the end of -fuzztime with no failing input (golang/go#75804); retrying"
       done
     done
   done)
done
