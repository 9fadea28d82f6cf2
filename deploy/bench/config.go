package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the benchmark. Each flag's default comes from
// its environment variable, then from defaultConfig.
type config struct {
	// Bin is -bin / BENCH_BIN, the directory holding sandbox, bff-web and
	// bff-mobile (make build); default ./bin.
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
	// CI is -ci / BENCH_CI: a short run (1s unless a duration is given)
	// that fails on a skipped endpoint as well as on errors. Default false.
	CI bool
	// Only is -only / BENCH_ONLY, a comma-separated subset of the endpoint
	// keys (direct, mobile-product, web-product, web-order, mobile-place);
	// the direct baseline always runs. Default all.
	Only []string
	// Timeout is -timeout / BENCH_TIMEOUT, after which a request counts as a
	// transport error; default 5s.
	Timeout time.Duration
	// ProductID is -product / BENCH_PRODUCT, the product read and ordered;
	// default 1.
	ProductID int64
	// LogDir is -logs / BENCH_LOGS, where each process's output goes;
	// default a new temporary directory.
	LogDir string
}

func defaultConfig() config {
	return config{Bin: "./bin", Duration: 5 * time.Second, Conns: 64, Timeout: 5 * time.Second, ProductID: 1}
}

// loadConfig reads the environment through getenv, then the flags in args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	var errs []error
	envDuration := func(into *time.Duration, name string) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			*into = d
		}
	}
	if v := getenv("BENCH_BIN"); v != "" {
		cfg.Bin = v
	}
	durationSet := getenv("BENCH_DURATION") != ""
	envDuration(&cfg.Duration, "BENCH_DURATION")
	envDuration(&cfg.Soak, "BENCH_SOAK")
	envDuration(&cfg.Timeout, "BENCH_TIMEOUT")
	if v := getenv("BENCH_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_CONNS: %w", err))
		}
		cfg.Conns = n
	}
	if v := getenv("BENCH_CI"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_CI: %w", err))
		}
		cfg.CI = b
	}
	if v := getenv("BENCH_PRODUCT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("BENCH_PRODUCT: %w", err))
		}
		cfg.ProductID = n
	}
	only := getenv("BENCH_ONLY")
	cfg.LogDir = getenv("BENCH_LOGS")
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}

	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Bin, "bin", cfg.Bin, "directory holding sandbox, bff-web and bff-mobile (BENCH_BIN)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each endpoint is driven (BENCH_DURATION)")
	fs.DurationVar(&cfg.Soak, "soak", cfg.Soak, "drive each endpoint this long and print the RSS over time (BENCH_SOAK)")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections kept busy (BENCH_CONNS)")
	fs.BoolVar(&cfg.CI, "ci", cfg.CI, "short run; fail on skipped endpoints as well as errors (BENCH_CI)")
	fs.StringVar(&only, "only", only, "comma-separated endpoint keys to run besides direct (BENCH_ONLY)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request timeout (BENCH_TIMEOUT)")
	fs.Int64Var(&cfg.ProductID, "product", cfg.ProductID, "product id read and ordered (BENCH_PRODUCT)")
	fs.StringVar(&cfg.LogDir, "logs", cfg.LogDir, "directory for the processes' output (BENCH_LOGS)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			durationSet = true
		}
	})
	if cfg.CI && !durationSet {
		cfg.Duration = time.Second
	}
	if cfg.Soak > 0 {
		cfg.Duration = cfg.Soak
	}
	for _, k := range strings.Split(only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Only = append(cfg.Only, k)
		}
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	var errs []error
	if c.Duration <= 0 || c.Soak < 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if c.Conns < 1 {
		errs = append(errs, fmt.Errorf("conns must be at least 1, got %d", c.Conns))
	}
	if c.ProductID < 1 {
		errs = append(errs, fmt.Errorf("product must be a positive id, got %d", c.ProductID))
	}
	for _, k := range c.Only {
		if !knownKey(k) {
			errs = append(errs, fmt.Errorf("only: unknown endpoint %q (known: %s)", k, strings.Join(endpointKeys, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
