package main

import (
	"io"
	"reflect"
	"testing"
	"time"
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
		{"ci defaults to one second", map[string]string{"BENCH_CI": "1"}, nil,
			with(func(c *config) { c.CI, c.Duration = true, time.Second })},
		{"ci keeps a duration from the environment", map[string]string{"BENCH_CI": "true", "BENCH_DURATION": "3s"}, nil,
			with(func(c *config) { c.CI, c.Duration = true, 3*time.Second })},
		{"ci keeps a duration flag", nil, []string{"-ci", "-duration", "2s"},
			with(func(c *config) { c.CI, c.Duration = true, 2*time.Second })},
		{"soak replaces the duration", map[string]string{"BENCH_SOAK": "60s"}, nil,
			with(func(c *config) { c.Soak, c.Duration = time.Minute, time.Minute })},
		{"open loop", map[string]string{"BENCH_RATE": "2500", "BENCH_DURATION": "10s"}, nil,
			with(func(c *config) { c.Rate, c.Duration = 2500, 10*time.Second })},
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

func TestFreePortsAreDistinct(t *testing.T) {
	addrs, err := freePorts(7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("address %s returned twice in %v", a, addrs)
		}
		seen[a] = true
	}
	if len(seen) != 7 {
		t.Errorf("got %d addresses, want 7", len(seen))
	}
}
