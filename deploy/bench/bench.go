package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"storefront.dev/shared/sandbox"
)

// endpointKeys name the measured endpoints for -only, in the order they run.
// The direct baseline runs first so that every efficiency divides by a
// figure from the same run; each reference row runs next to the BFF row it
// is compared with, and the checkout latency, which injects latency into
// the sandbox, runs last.
var endpointKeys = []string{"direct", "mobile-product", "mobile-product-nocache", "ref-product", "web-product",
	"web-product-nocache", "web-order", "ref-order", "mobile-place", checkoutLatencyKey}

// closedLoopOnly are the keys an open loop (BENCH_RATE) does not measure:
// the reference is compared with the BFFs at equal connections, and the
// checkout latency is one checkout at a time.
var closedLoopOnly = []string{"ref-product", "ref-order", checkoutLatencyKey}

func knownKey(k string) bool { return slices.Contains(endpointKeys, k) }

// endpoint is a target with its -only key.
type endpoint struct {
	Key string
	// Pair is the key of the row this one is compared with, which -only
	// runs with it: a comparison needs both rows of one run.
	Pair string
	target
}

// selected reports whether a closed loop runs ep given -only's keys: all
// when there are none, else the direct baseline, the keys named and the
// rows paired with them.
func (ep endpoint) selected(only []string) bool {
	return len(only) == 0 || ep.Direct || slices.Contains(only, ep.Key) || ep.Pair != "" && slices.Contains(only, ep.Pair)
}

// comparison pairs a BFF row with the bench-reference row doing the same
// upstream work, and the most CPU per request the BFF may spend, as a
// share of the reference's.
type comparison struct {
	Label     string
	Ours, Ref string // endpoint keys
	Target    float64
}

// comparisons are the pairs the report compares, in endpointKeys order.
var comparisons = []comparison{
	{"mobile product view (cache off)", "mobile-product-nocache", "ref-product", 0.8},
	{"web order page", "web-order", "ref-order", 0.6},
}

// catalogSize is how many products the cache-off rows spread their reads
// over, each a product at random (the sandbox seeds at least 40), so that
// most reads reach the product service: request coalescing, which no
// setting turns off, still merges the concurrent reads of one product,
// which 64 connections over 40 products meet by chance.
const catalogSize = 40

// endpoints returns every measured endpoint, in endpointKeys order.
func endpoints(st *stack, fx fixtures, productID int64) []endpoint {
	bearer := [][2]string{{"Authorization", "Bearer " + fx.Token}}
	one := func(prefix string) []string { return []string{prefix + strconv.FormatInt(productID, 10)} }
	spread := func(prefix string) []string {
		paths := make([]string, catalogSize)
		for i := range paths {
			paths[i] = prefix + strconv.Itoa(i+1)
		}
		return paths
	}
	get := func(server, name string, paths []string) target {
		addr := st.Sandbox[sandbox.ServiceProduct]
		if p := st.server(server); p != nil {
			addr = p.Addr
		}
		return target{Name: name, Server: server, Addr: addr, Method: "GET", Paths: paths}
	}

	direct := get("sandbox", "GET /products/{id} (direct)", one("/products/"))
	direct.Direct = true
	// The cached product page is not held to the efficiency target: it
	// makes almost no upstream call by design.
	webProduct := get("bff-web", "GET /api/products/{id}", one("/api/products/"))
	webProductNoCache := get("bff-web-nocache", "GET /api/products/{id} (cache off)", spread("/api/products/"))
	webProductNoCache.Aggregate = true
	webOrder := get("bff-web", "GET /api/orders/{id}", []string{"/api/orders/" + fx.OrderID})
	webOrder.Header, webOrder.Aggregate = bearer, true
	place := get("bff-mobile", "POST /v1/orders", []string{"/v1/orders"})
	place.Method, place.Header, place.Body, place.UniqueKey = "POST", bearer, orderBody(productID), true
	// The reference reads what its BFF row reads: the same 40 products, the
	// same order.
	refProduct := get(referenceName, "GET /products/{id} (reference)", spread("/products/"))
	refOrder := get(referenceName, "GET /orders/{id} (reference)", []string{"/orders/" + fx.OrderID})
	refProduct.Reference, refOrder.Reference = true, true

	return []endpoint{
		{"direct", "", direct},
		{"mobile-product", "", get("bff-mobile", "GET /v1/products/{id}", one("/v1/products/"))},
		{"mobile-product-nocache", "ref-product", get("bff-mobile-nocache", "GET /v1/products/{id} (cache off)", spread("/v1/products/"))},
		{"ref-product", "mobile-product-nocache", refProduct},
		{"web-product", "", webProduct},
		{"web-product-nocache", "", webProductNoCache},
		{"web-order", "ref-order", webOrder},
		{"ref-order", "web-order", refOrder},
		{"mobile-place", "", place},
	}
}

// row is one endpoint's line of the report.
type row struct {
	// Key is the endpoint's -only key.
	Key string
	target
	// Skipped says why the endpoint was not measured; empty when it was.
	Skipped string
	Result  loadResult
	// Calls are the upstream requests made during the run, by "service route".
	Calls counts
	// PeakRSS is the highest VmRSS sampled during the run and HWM the
	// process's VmHWM after it, in bytes; -1 when unknown or not a BFF.
	PeakRSS, HWM int64
	RSS          []rssSample
	// CPU is the CPU time each process used during the run, in cores.
	CPU []cpuShare
	// BaseRPS is the direct baseline's req/s, measured again just before
	// this row; 0 when it was not.
	BaseRPS float64
}

// CallsPerRequest is upstream requests per measured request.
func (r row) CallsPerRequest() float64 {
	if r.Result.Requests == 0 {
		return 0
	}
	return float64(r.Calls.total()) / float64(r.Result.Requests)
}

// run starts the stack, measures every endpoint and prints the report to
// stdout. It fails when an endpoint had errors, or in CI mode was skipped.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenvFrom(environ), stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.LogDir == "" {
		if cfg.LogDir, err = os.MkdirTemp("", "storefront-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return err
	}
	if len(cfg.Multiples) > 0 {
		return runMultiples(ctx, cfg, environ, stdout, stderr)
	}
	if !cfg.open() {
		// After environ: the closed loop measures capacity, not shedding.
		environ = slices.Concat(environ, closedLoopEnv)
	}
	s, err := startSession(ctx, cfg, environ, stderr)
	if err != nil {
		return err
	}
	defer s.st.stop()
	if cfg.open() {
		return runOpen(ctx, s, cfg, nil, stdout, stderr)
	}
	rows, cl, err := runClosed(ctx, s, cfg, stderr)
	writeReport(stdout, cfg, rows, cl)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted; the figures above are partial")
	}
	if cl != nil {
		rows = append(rows, cl.rows()...)
	}
	return verdict(rows, cfg.CI)
}

// runMultiples measures each selected endpoint's capacity in a closed loop
// and prints that report, then restarts the stack with admission control
// as deployed and drives each endpoint open loop at each multiple of its
// capacity: the capacity and the overload of one run.
func runMultiples(ctx context.Context, cfg config, environ []string, stdout, stderr io.Writer) error {
	s, err := startSession(ctx, cfg, slices.Concat(environ, closedLoopEnv), stderr)
	if err != nil {
		return err
	}
	rows, _, err := runClosed(ctx, s, cfg, stderr)
	s.st.stop()
	writeReport(stdout, cfg, rows, nil)
	if err != nil {
		return err
	}
	if err := verdict(rows, cfg.CI); err != nil || ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	capacity := map[string]float64{}
	for _, r := range rows {
		if r.Skipped == "" {
			capacity[r.Key] = r.Result.RPS()
		}
	}
	fmt.Fprintf(stderr, "bench: restarting the stack with admission control as deployed\n")
	if s, err = startSession(ctx, cfg, environ, stderr); err != nil {
		return err
	}
	defer s.st.stop()
	return runOpen(ctx, s, cfg, capacity, stdout, stderr)
}

// session is a started stack, ready to be measured.
type session struct {
	st    *stack
	admin *admin
	fx    fixtures
	pids  map[string]int
	runID string
}

// startSession starts the stack with environ, prepares the fixtures and
// injects BENCH_FAULT. The caller stops s.st.
func startSession(ctx context.Context, cfg config, environ []string, stderr io.Writer) (*session, error) {
	fmt.Fprintf(stderr, "bench: starting the sandbox, the BFFs and the reference (logs in %s)\n", cfg.LogDir)
	st, err := startStack(ctx, cfg.Bin, cfg.LogDir, environ)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "bench: %-18s pid %-7d product service %s\n", "sandbox", st.SandboxProc.pid(), st.Sandbox[sandbox.ServiceProduct])
	for _, b := range bffs {
		p := st.BFFs[b.name]
		fmt.Fprintf(stderr, "bench: %-18s pid %-7d %s\n", b.name, p.pid(), p.Addr)
	}
	fmt.Fprintf(stderr, "bench: %-18s pid %-7d %s\n", referenceName, st.Reference.pid(), st.Reference.Addr)

	s := &session{st: st, admin: newAdmin(st.Sandbox), runID: strconv.FormatInt(time.Now().UnixNano(), 36),
		pids: map[string]int{"sandbox": st.SandboxProc.pid(), referenceName: st.Reference.pid()}}
	for name, b := range st.BFFs {
		s.pids[name] = b.pid()
	}
	if s.fx, err = s.admin.prepare(ctx, st, cfg.ProductID, "bench-"+s.runID+"-"); err != nil {
		st.stop()
		return nil, err
	}
	if f := cfg.fault; f.Service != "" {
		if err := s.admin.sandbox.InjectFault(ctx, f.Service, f.Fault); err != nil {
			st.stop()
			return nil, fmt.Errorf("BENCH_FAULT: %w", err)
		}
	}
	return s, nil
}

// runClosed drives each selected endpoint in a closed loop, then times the
// checkout latency when it is selected, returning what it measured so far
// when it fails. An open run (capacities for BENCH_RATE's multiples) drives
// no reference row and no checkout latency.
func runClosed(ctx context.Context, s *session, cfg config, stderr io.Writer) ([]row, *checkoutLatency, error) {
	var (
		rows []row
		base *target
	)
	for i, ep := range endpoints(s.st, s.fx, cfg.ProductID) {
		if ctx.Err() != nil {
			break
		}
		if !ep.selected(cfg.Only) || cfg.open() && ep.Reference {
			continue
		}
		fmt.Fprintf(stderr, "bench: %s for %s at %d connections\n", ep.Name, cfg.Duration, cfg.Conns)
		r, err := measure(ctx, s.admin, s.st, ep.target, base, cfg, s.pids, fmt.Sprintf("bench-%s-%d-", s.runID, i))
		if err != nil {
			return rows, nil, err
		}
		r.Key = ep.Key
		if ep.Direct && r.Skipped == "" {
			base = &ep.target
		}
		rows = append(rows, r)
		if err := s.st.check(); err != nil {
			return rows, nil, err
		}
	}
	// The checkout latency injects faults of its own: not with BENCH_FAULT.
	if ctx.Err() != nil || cfg.open() || !(len(cfg.Only) == 0 && cfg.Fault == "" || slices.Contains(cfg.Only, checkoutLatencyKey)) {
		return rows, nil, nil
	}
	fmt.Fprintf(stderr, "bench: checkout latency, %d checkouts and %d chains of writes, %s injected on each write\n",
		cfg.Checkouts, cfg.Checkouts, writeLatency)
	c, err := s.admin.measureCheckoutLatency(ctx, s.st, s.fx, cfg, fmt.Sprintf("bench-%s-latency-", s.runID))
	if err != nil {
		return rows, nil, err
	}
	if err := s.st.check(); err != nil {
		return rows, &c, err
	}
	return rows, &c, nil
}

// measure drives one endpoint and reads what it cost upstream and in
// memory. Unless base is nil, the baseline is driven again first, for half
// the duration, so that the efficiency divides by a figure taken under the
// same machine load: on a shared machine the load changes within a run.
func measure(ctx context.Context, a *admin, st *stack, t target, base *target, cfg config, pids map[string]int, keyPrefix string) (row, error) {
	r := row{target: t, PeakRSS: -1, HWM: -1}
	l := newLoader(t.Addr, cfg.Conns, cfg.Timeout)
	defer l.close()
	if err := l.probe(t, keyPrefix); errors.Is(err, errRouteMissing) {
		r.Skipped = err.Error()
		return r, nil
	}
	if base != nil {
		bl := newLoader(base.Addr, cfg.Conns, cfg.Timeout)
		r.BaseRPS = bl.run(ctx, *base, cfg.Conns, max(cfg.Duration/2, 500*time.Millisecond), "").RPS()
		bl.close()
	}
	// The counters are read to the end even after a Ctrl-C, so that a
	// partial run still reports what it measured.
	const poll, patience = 100 * time.Millisecond, 10 * time.Second
	before, err := a.quietCounts(context.WithoutCancel(ctx), poll, patience)
	if err != nil {
		return r, err
	}
	bffPID := 0
	if !t.Direct {
		bffPID = pids[t.Server]
	}
	cpu := startCPU(map[string]int{"sandbox": pids["sandbox"], t.Server: pids[t.Server], "bench": os.Getpid()})
	sampler := sampleRSS(bffPID, 50*time.Millisecond)
	r.Result = l.run(ctx, t, cfg.Conns, cfg.Duration, keyPrefix)
	r.PeakRSS, r.HWM, r.RSS = sampler.finish()
	r.CPU = cpu.finish(r.Result.Elapsed)
	after, err := a.quietCounts(context.WithoutCancel(ctx), poll, patience)
	if err != nil {
		return r, err
	}
	r.Calls = after.sub(before)
	if t.Direct {
		r.BaseRPS = r.Result.RPS()
	}
	return r, nil
}

// verdict fails a run with errors, and in CI mode one that skipped an
// endpoint: a route gone missing is a regression there.
func verdict(rows []row, ci bool) error {
	var failed, skipped []string
	for _, r := range rows {
		switch {
		case r.Skipped != "":
			skipped = append(skipped, r.Name)
		case r.Result.Errors > 0:
			failed = append(failed, r.Name)
		}
	}
	var errs []error
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("errors on %s", strings.Join(failed, ", ")))
	}
	if ci && len(skipped) > 0 {
		errs = append(errs, fmt.Errorf("skipped %s", strings.Join(skipped, ", ")))
	}
	return errors.Join(errs...)
}

// getenvFrom looks names up in an environ list; the last entry wins, as in
// the process environment.
func getenvFrom(environ []string) func(string) string {
	return func(name string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == name {
				v = val
			}
		}
		return v
	}
}
