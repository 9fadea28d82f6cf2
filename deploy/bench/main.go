// Command bench is the load benchmark behind make bench. It starts the
// sandbox, both BFFs and bench-reference (a bare Fiber gateway, see
// ./reference) from make build's binaries on free loopback ports, logs in,
// prepares data, then drives each endpoint in turn from this process with a
// fixed number of busy connections and prints one table: throughput,
// latency percentiles, errors, the BFF's peak RSS, bytes per response,
// upstream calls per request and the efficiency against the sandbox's own
// GET /products/{id}, all from the same run. Under it, it compares the
// CPU per request of two BFF pages with the reference's doing the same
// upstream calls, and the latency of one checkout at a time with that of
// its upstream writes made one after another. With a rate (BENCH_RATE) it
// drives each endpoint open loop instead, at that constant arrival rate or
// at multiples of the capacity it measured first, and reports goodput,
// sheds and the BFF's memory after the spike. It stops
// every process it started, on Ctrl-C too. Flags and BENCH_* variables are
// listed by bench -h and in the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
