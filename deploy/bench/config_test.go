package main

import (
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
)

func TestLoadConfig(t *testing.T) {
	def := defaultConfig()
	with := func(f func(*config)) config {
		c := defaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want config
	}{
		{"defaults", nil, nil, def},
		{"environment", map[string]string{"BENCH_DURATION": "2s", "BENCH_CONNS": "8", "BENCH_BIN": "/b", "BENCH_ONLY": "web-order, mobile-place"}, nil,
			with(func(c *config) {
				c.Duration, c.Conns, c.Bin, c.Only = 2*time.Second, 8, "/b", []string{"web-order", "mobile-place"}
			})},
		{"flags win over the environment", map[string]string{"BENCH_CONNS": "8"}, []string{"-conns", "16"},
			with(func(c *config) { c.Conns = 16 })},
		{"ci defaults to one second and 30 checkouts", map[string]string{"BENCH_CI": "1"}, nil,
			with(func(c *config) { c.CI, c.Duration, c.Checkouts = true, time.Second, 30 })},
		{"ci keeps a duration from the environment", map[string]string{"BENCH_CI": "true", "BENCH_DURATION": "3s"}, nil,
			with(func(c *config) { c.CI, c.Duration, c.Checkouts = true, 3*time.Second, 30 })},
		{"ci keeps a duration flag", nil, []string{"-ci", "-duration", "2s"},
			with(func(c *config) { c.CI, c.Duration, c.Checkouts = true, 2*time.Second, 30 })},
		{"ci keeps a checkouts flag", nil, []string{"-ci", "-checkouts", "50"},
			with(func(c *config) { c.CI, c.Duration, c.Checkouts = true, time.Second, 50 })},
		{"checkouts from the environment", map[string]string{"BENCH_CHECKOUTS": "10", "BENCH_ONLY": "checkout-latency"}, nil,
			with(func(c *config) { c.Checkouts, c.Only = 10, []string{"checkout-latency"} })},
		{"soak replaces the duration", map[string]string{"BENCH_SOAK": "60s"}, nil,
			with(func(c *config) { c.Soak, c.Duration = time.Minute, time.Minute })},
		{"open loop", map[string]string{"BENCH_RATE": "2500", "BENCH_DURATION": "10s"}, nil,
			with(func(c *config) { c.Rate, c.Duration = 2500, 10*time.Second })},
		{"multiples of the capacity", map[string]string{"BENCH_RATE": "2x, 4x", "BENCH_ONLY": "web-order"}, nil,
			with(func(c *config) { c.Multiples, c.Only = []float64{2, 4}, []string{"web-order"} })},
		{"fault", map[string]string{"BENCH_FAULT": `order {"route":"GET /orders/{id}","latency_ms":10,"concurrency":8}`}, nil,
			with(func(c *config) {
				c.Fault = `order {"route":"GET /orders/{id}","latency_ms":10,"concurrency":8}`
				c.fault = serviceFault{Service: "order", Fault: sandbox.Fault{Route: "GET /orders/{id}", LatencyMS: 10, Concurrency: 8}}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("loadConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"bad duration", map[string]string{"BENCH_DURATION": "five"}, nil},
		{"zero duration", nil, []string{"-duration", "0s"}},
		{"bad conns", map[string]string{"BENCH_CONNS": "many"}, nil},
		{"no conns", nil, []string{"-conns", "0"}},
		{"bad ci", map[string]string{"BENCH_CI": "sometimes"}, nil},
		{"bad product", nil, []string{"-product", "0"}},
		{"unknown endpoint", map[string]string{"BENCH_ONLY": "web-me"}, nil},
		{"unknown flag", nil, []string{"-qps", "5"}},
		{"bad rate", map[string]string{"BENCH_RATE": "fast"}, nil},
		{"negative rate", nil, []string{"-rate", "-1"}},
		{"rate under one request", map[string]string{"BENCH_RATE": "0.5", "BENCH_DURATION": "1s"}, nil},
		{"rate with soak", map[string]string{"BENCH_RATE": "100", "BENCH_SOAK": "60s"}, nil},
		{"no checkouts", nil, []string{"-checkouts", "0"}},
		{"reference with a rate", map[string]string{"BENCH_RATE": "100", "BENCH_ONLY": "web-order,ref-order"}, nil},
		{"checkout latency with a rate", map[string]string{"BENCH_RATE": "100", "BENCH_ONLY": "checkout-latency"}, nil},
		{"multiples mixed with a rate", map[string]string{"BENCH_RATE": "2x,1500"}, nil},
		{"zero multiple", map[string]string{"BENCH_RATE": "0x"}, nil},
		{"multiples with soak", map[string]string{"BENCH_RATE": "2x", "BENCH_SOAK": "60s"}, nil},
		{"multiples with the checkout latency", map[string]string{"BENCH_RATE": "2x", "BENCH_ONLY": "checkout-latency"}, nil},
		{"fault without a service", map[string]string{"BENCH_FAULT": `{"route":"*","latency_ms":10}`}, nil},
		{"fault of an unknown service", map[string]string{"BENCH_FAULT": `inventory {"route":"*","latency_ms":10}`}, nil},
		{"fault followed by more", map[string]string{"BENCH_FAULT": `order {"route":"*","latency_ms":10} {}`}, nil},
		{"fault with an unknown field", map[string]string{"BENCH_FAULT": `order {"route":"*","latency":10}`}, nil},
		{"fault with the checkout latency", map[string]string{"BENCH_FAULT": `order {"route":"*","latency_ms":10}`, "BENCH_ONLY": "checkout-latency"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard); err == nil {
				t.Errorf("loadConfig(%v, %v) succeeded, want an error", tt.env, tt.args)
			}
		})
	}
}

func TestGetenvFrom(t *testing.T) {
	getenv := getenvFrom([]string{"A=1", "B=x=y", "A=2", "C"})
	tests := []struct{ name, want string }{{"A", "2"}, {"B", "x=y"}, {"C", ""}, {"D", ""}}
	for _, tt := range tests {
		if got := getenv(tt.name); got != tt.want {
			t.Errorf("getenv(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestREADMEBenchSettings: the settings table of README.md's "Reading `make
// bench`" lists exactly the variables bench reads, each with its flag, and
// its BENCH_ONLY row names every endpoint key but the baseline.
func TestREADMEBenchSettings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Reading `make bench`\n")
	if !ok {
		t.Fatal("README.md has no \"## Reading `make bench`\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	documented := map[string]string{} // variable: its row
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 4 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`BENCH_") {
			continue
		}
		documented[strings.Trim(strings.TrimSpace(cells[0]), "`")] = line
	}
	for _, e := range envFlags {
		line, ok := documented[e.env]
		switch {
		case !ok:
			t.Errorf("README.md's bench settings do not list %s", e.env)
		case !strings.Contains(line, "| `-"+e.flag+"` |"):
			t.Errorf("README.md lists %s without its flag -%s: %s", e.env, e.flag, line)
		}
		delete(documented, e.env)
	}
	for env := range documented {
		t.Errorf("README.md lists %s, which bench does not read", env)
	}
	only := ""
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `BENCH_ONLY` |") {
			only = line
		}
	}
	for _, k := range endpointKeys {
		if k != "direct" && !strings.Contains(only, "`"+k+"`") {
			t.Errorf("README.md's BENCH_ONLY row does not name %s", k)
		}
	}
}
