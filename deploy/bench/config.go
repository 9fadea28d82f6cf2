package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox"
)

// config is every setting of the benchmark. Each flag's default comes from
// its environment variable, then from defaultConfig.
type config struct {
	// Bin is -bin / BENCH_BIN, the directory holding sandbox, bff-web,
	// bff-mobile and bench-reference (make build); default ./bin.
	Bin string
	// Duration is -duration / BENCH_DURATION, how long each endpoint is
	// driven; default 5s, 1s with -ci.
	Duration time.Duration
	// Soak is -soak / BENCH_SOAK: when set, each endpoint is driven this long
	// instead of Duration and the BFF's RSS over the run is printed, so a
	// leak shows as a rising line. Default off.
	Soak time.Duration
	// Conns is -conns / BENCH_CONNS, the connections kept busy (one request
	// in flight on each); default 64.
	Conns int
	// Rate is -rate / BENCH_RATE: when set, each endpoint is driven open
	// loop, this many requests a second each sent at its scheduled time
	// whatever the answers before it, and the BFFs keep their admission
	// control as deployed, so that what they shed shows. Default 0: the
	// closed loop of Conns connections.
	Rate float64
	// Multiples is -rate / BENCH_RATE given as multiples, "2x,4x": each
	// endpoint's capacity is measured first in a closed loop (with
	// admission control out of the way), then, with the BFFs restarted as
	// deployed, it is driven open loop at each multiple of it. Default
	// none.
	Multiples []float64
	// CI is -ci / BENCH_CI: a short run (1s unless a duration is given)
	// that fails on a skipped endpoint as well as on errors. Default false.
	CI bool
	// Only is -only / BENCH_ONLY, a comma-separated subset of endpointKeys;
	// the direct baseline always runs in a closed loop, and a row compared
	// with the reference runs with its reference row. Default all.
	Only []string
	// Checkouts is -checkouts / BENCH_CHECKOUTS, how many checkouts, and
	// chains of the checkout's writes, the checkout latency measures; default
	// 200, 30 with -ci.
	Checkouts int
	// Timeout is -timeout / BENCH_TIMEOUT, after which a request counts as a
	// transport error; default 5s.
	Timeout time.Duration
	// ProductID is -product / BENCH_PRODUCT, the product read and ordered;
	// default 1.
	ProductID int64
	// LogDir is -logs / BENCH_LOGS, where each process's output goes;
	// default a new temporary directory.
	LogDir string
	// Fault is -fault / BENCH_FAULT, a sandbox fault kept for the whole
	// run: a service's name, a space and the fault's JSON, e.g. `order
	// {"route":"GET /orders/{id}","latency_ms":10,"concurrency":8}` for an
	// order service of bounded capacity. Default none.
	Fault string
	// fault is Fault parsed; Service is empty without one.
	fault serviceFault
}

// serviceFault is a sandbox fault and the service it is injected into.
type serviceFault struct {
	Service string
	sandbox.Fault
}

// parseFault reads BENCH_FAULT's "service {json}". The fault itself is
// checked by the sandbox when it is injected.
func parseFault(s string) (serviceFault, error) {
	service, body, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || !slices.Contains(sandbox.Services, service) {
		return serviceFault{}, fmt.Errorf("fault: want a service (%s), a space and a fault's JSON, got %q", strings.Join(sandbox.Services, ", "), s)
	}
	f := serviceFault{Service: service}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f.Fault); err != nil {
		return serviceFault{}, fmt.Errorf("fault: %w", err)
	}
	if dec.More() {
		return serviceFault{}, fmt.Errorf("fault: more than one JSON value in %q", body)
	}
	return f, nil
}

func defaultConfig() config {
	return config{Bin: "./bin", Duration: 5 * time.Second, Conns: 64, Timeout: 5 * time.Second, ProductID: 1, Checkouts: 200}
}

// envFlags are the variables that set a flag's value before the flags in
// the arguments are parsed, so a flag given wins over its variable.
var envFlags = []struct{ flag, env string }{
	{"bin", "BENCH_BIN"}, {"duration", "BENCH_DURATION"}, {"soak", "BENCH_SOAK"},
	{"conns", "BENCH_CONNS"}, {"ci", "BENCH_CI"}, {"only", "BENCH_ONLY"},
	{"timeout", "BENCH_TIMEOUT"}, {"product", "BENCH_PRODUCT"}, {"logs", "BENCH_LOGS"},
	{"rate", "BENCH_RATE"}, {"checkouts", "BENCH_CHECKOUTS"}, {"fault", "BENCH_FAULT"},
}

// loadConfig reads the environment through getenv, then the flags in args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	var only string
	fs := cfg.flagSet(&only, stderr)
	var errs []error
	for _, e := range envFlags {
		if v := getenv(e.env); v != "" {
			if err := fs.Set(e.flag, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.env, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	set := map[string]bool{} // by its variable or its flag
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.CI && !set["duration"] {
		cfg.Duration = time.Second
	}
	if cfg.CI && !set["checkouts"] {
		cfg.Checkouts = 30
	}
	if cfg.Soak > 0 {
		cfg.Duration = cfg.Soak
	}
	for _, k := range strings.Split(only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Only = append(cfg.Only, k)
		}
	}
	if cfg.Fault != "" {
		f, err := parseFault(cfg.Fault)
		if err != nil {
			return config{}, fmt.Errorf("config: %w", err)
		}
		cfg.fault = f
	}
	return cfg, cfg.validate()
}

// flagSet defines a flag for each field of c, and one for the endpoint keys
// in *only, each usage naming the flag's variable.
func (c *config) flagSet(only *string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Bin, "bin", c.Bin, "directory holding sandbox, bff-web, bff-mobile and bench-reference")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long each endpoint is driven")
	fs.DurationVar(&c.Soak, "soak", c.Soak, "drive each endpoint this long and print the RSS over time")
	fs.IntVar(&c.Conns, "conns", c.Conns, "connections kept busy")
	fs.BoolVar(&c.CI, "ci", c.CI, "short run; fail on skipped endpoints as well as errors")
	fs.StringVar(only, "only", *only, "comma-separated endpoint keys to run besides direct")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per-request timeout")
	fs.Int64Var(&c.ProductID, "product", c.ProductID, "product id read and ordered")
	fs.StringVar(&c.LogDir, "logs", c.LogDir, "directory for the processes' output")
	fs.Var(rateFlag{c}, "rate", "requests per second, open loop (0: closed loop), or multiples of the capacity measured first (2x,4x)")
	fs.IntVar(&c.Checkouts, "checkouts", c.Checkouts, "checkouts and chains of writes the checkout latency measures")
	fs.StringVar(&c.Fault, "fault", c.Fault, "a sandbox fault for the whole run: service name, space, fault JSON")
	for _, e := range envFlags {
		f := fs.Lookup(e.flag)
		f.Usage += " (" + e.env + ")"
	}
	return fs
}

// rateFlag reads -rate / BENCH_RATE into Rate, or into Multiples when it
// is a list of multiples ("2x,4x").
type rateFlag struct{ c *config }

func (f rateFlag) String() string {
	if f.c == nil {
		return "0"
	}
	if len(f.c.Multiples) == 0 {
		return strconv.FormatFloat(f.c.Rate, 'g', -1, 64)
	}
	parts := make([]string, len(f.c.Multiples))
	for i, m := range f.c.Multiples {
		parts[i] = strconv.FormatFloat(m, 'g', -1, 64) + "x"
	}
	return strings.Join(parts, ",")
}

func (f rateFlag) Set(s string) error {
	f.c.Rate, f.c.Multiples = 0, nil
	if !strings.HasSuffix(strings.TrimSpace(s), "x") {
		r, err := strconv.ParseFloat(s, 64)
		f.c.Rate = r
		return err
	}
	for part := range strings.SplitSeq(s, ",") {
		m, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(part), "x"), 64)
		if err != nil || !strings.HasSuffix(strings.TrimSpace(part), "x") {
			return fmt.Errorf("%q: want a rate (1500) or multiples of the capacity (2x,4x)", s)
		}
		f.c.Multiples = append(f.c.Multiples, m)
	}
	return nil
}

// open reports whether the run drives endpoints open loop.
func (c config) open() bool { return c.Rate > 0 || len(c.Multiples) > 0 }

func (c config) validate() error {
	var errs []error
	if c.Duration <= 0 || c.Soak < 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if c.Conns < 1 {
		errs = append(errs, fmt.Errorf("conns must be at least 1, got %d", c.Conns))
	}
	if !(c.Rate >= 0 && c.Rate <= maxRate) || c.Rate > 0 && c.Rate*c.Duration.Seconds() < 1 {
		errs = append(errs, fmt.Errorf("rate must be 0 (closed loop) or 0..%d requests a second, at least one over the duration, got %v", maxRate, c.Rate))
	}
	for _, m := range c.Multiples {
		if !(m > 0 && m <= 100) {
			errs = append(errs, fmt.Errorf("rate: a multiple of the capacity must be in (0, 100], got %vx", m))
		}
	}
	if c.open() && c.Soak > 0 {
		errs = append(errs, errors.New("soak and rate do not combine: a soak is a closed loop"))
	}
	if c.Checkouts < 1 {
		errs = append(errs, fmt.Errorf("checkouts must be at least 1, got %d", c.Checkouts))
	}
	if c.ProductID < 1 {
		errs = append(errs, fmt.Errorf("product must be a positive id, got %d", c.ProductID))
	}
	for _, k := range c.Only {
		switch {
		case !knownKey(k):
			errs = append(errs, fmt.Errorf("only: unknown endpoint %q (known: %s)", k, strings.Join(endpointKeys, ", ")))
		case c.open() && slices.Contains(closedLoopOnly, k):
			errs = append(errs, fmt.Errorf("only: %s is measured in the closed loop only, not with a rate", k))
		case c.Fault != "" && k == checkoutLatencyKey:
			errs = append(errs, fmt.Errorf("only: %s injects faults of its own, not with a fault", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
