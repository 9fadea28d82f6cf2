package gateway

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestValidate: each package's settings are checked by its own Validate,
// reached through the gateway's; the gateway adds the checks that span
// packages.
func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no product upstream", func(c *Config) { c.Upstreams.Product = nil }, "no product upstream"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "LogLevel"},
		{"log level with an offset", func(c *Config) { c.LogLevel = "info+2" }, "LogLevel"},
		{"zero call timeout", func(c *Config) { c.Upstream.Timeout = 0 }, "upstream: Timeout"},
		{"negative retries", func(c *Config) { c.Upstream.Retries = -1 }, "upstream: Retries"},
		{"no breaker threshold", func(c *Config) { c.Upstream.Breaker.ConsecutiveFailures = 0 }, "upstream: Breaker"},
		{"no body limit", func(c *Config) { c.HTTP.BodyLimit = 0 }, "httpserver: BodyLimit"},
		{"body limit over its ceiling", func(c *Config) { c.HTTP.BodyLimit = 1 << 30 }, "httpserver: BodyLimit"},
		{"header limit of a terabyte", func(c *Config) { c.HTTP.HeaderLimit = 1 << 40 }, "httpserver: HeaderLimit"},
		{"header limit of 8 MiB", func(c *Config) { c.HTTP.HeaderLimit = 8 << 20 }, "httpserver: HeaderLimit"},
		{"connections at the int's ceiling", func(c *Config) { c.HTTP.MaxConns = math.MaxInt }, "httpserver: MaxConns"},
		{"retries at the int's ceiling", func(c *Config) { c.Upstream.Retries = math.MaxInt }, "upstream: Retries"},
		{"client IP header with a space", func(c *Config) { c.HTTP.ClientIPHeader = "X Forwarded" }, "ClientIPHeader"},
		{"no connection", func(c *Config) { c.HTTP.MaxConns = 0 }, "httpserver: MaxConns"},
		{"admission floor over its ceiling", func(c *Config) { c.Admission.MinLimit = c.Admission.MaxLimit + 1 }, "admission: want 1 ≤ MinLimit"},
		{"no issuer", func(c *Config) { c.Auth.Issuer = "" }, "auth: Issuer"},
		{"no refresh interval", func(c *Config) { c.Auth.RefreshInterval = 0 }, "auth: RefreshInterval"},
		{"no token size", func(c *Config) { c.Auth.MaxTokenBytes = 0 }, "MaxTokenBytes"},
		{"zero order timeout", func(c *Config) { c.Order.Timeout = 0 }, "orderflow: Timeout"},
		{"zero idempotency retention", func(c *Config) { c.Order.Retention = 0 }, "orderflow: Retention"},
		{"header limit under a browser's request", func(c *Config) { c.HTTP.HeaderLimit = 10 }, "httpserver: HeaderLimit"},
		{"lease too short to renew", func(c *Config) { c.Order.LeaseTTL = 2 * time.Nanosecond }, "orderflow: LeaseTTL"},
		{"negative late writes", func(c *Config) { c.Order.LateWrites = -time.Second }, "orderflow: LateWrites"},
		{"stock older than products", func(c *Config) { c.Cache.StockTTL = 2 * c.Cache.ProductTTL }, "catalog: StockTTL"},
		{"negative quota", func(c *Config) { c.RateLimit.Orders.Quota = -1 }, `"orders": quota -1 must be from 0`},
		{"window below a second", func(c *Config) { c.RateLimit.Login.Window = 500 * time.Millisecond }, `"login": window`},
		{"window not whole seconds", func(c *Config) { c.RateLimit.Default.Window = 1500 * time.Millisecond }, `"default": window`},
		{"no rate-limit keys", func(c *Config) { c.RateLimit.MaxKeys = 0 }, "ratelimit: MaxKeys"},
		{"no state file records", func(c *Config) { c.StateFile.MaxRecords = 0 }, "boltstore: MaxRecords"},
		{"no state dir nor redis", func(c *Config) { c.StateDir = "" }, "StateDir must be set"},
		{"redis url without a host", func(c *Config) { c.RedisURL = "redis:///0" }, "RedisURL"},
		{"redis url of another scheme", func(c *Config) { c.RedisURL = "http://:secret@redis:6379" }, "RedisURL"},
		{"redis address without a scheme", func(c *Config) { c.RedisURL = "redis:6379" }, "RedisURL"},
		{"redis url and addresses", func(c *Config) { c.RedisURL, c.RedisAddrs = "redis://r:6379", []string{"r:26379"} }, "not both"},
		{"redis url of a database that is no number", func(c *Config) { c.RedisURL = "redis://:secret@r:6379/x" }, "RedisURL: not a URL the Redis client takes"},
		{"redis address without a port", func(c *Config) { c.RedisAddrs = []string{"r:26379", "foo"} }, `RedisAddrs: "foo": want host:port`},
		{"password beside a redis url", func(c *Config) { c.RedisURL, c.RedisPassword = "redis://r:6379", "pw" }, "RedisPassword is for the nodes of RedisAddrs"},
		{"master name without sentinels", func(c *Config) { c.RedisMasterName = "storefront" }, "RedisMasterName"},
		{"journal replicas without redis", func(c *Config) { c.RedisJournalReplicas = 1 }, "RedisJournalReplicas"},
		{"negative journal replicas", func(c *Config) { c.RedisURL, c.RedisJournalReplicas = "redis://r:6379", -1 }, "RedisJournalReplicas"},
		{"sentinel password without sentinels", func(c *Config) { c.RedisURL, c.RedisSentinelPassword = "redis://r:6379", "pw" }, "RedisSentinelPassword"},
		{"empty hash tag in the key prefix", func(c *Config) { c.RedisKeyPrefix = "sf:{}:" }, "empty hash tag"},
		{"no tracing protocol", func(c *Config) { c.Tracing.Protocol = "thrift" }, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"unknown sampler", func(c *Config) { c.Tracing.Sampler = "sometimes" }, "OTEL_TRACES_SAMPLER"},
		{"sampler ratio above one", func(c *Config) { c.Tracing.SamplerArg = "1.5" }, "OTEL_TRACES_SAMPLER_ARG"},
		{"resource attribute without a value", func(c *Config) { c.Tracing.ResourceAttributes = "team" }, "OTEL_RESOURCE_ATTRIBUTES"},
		{"collector without a scheme", func(c *Config) { c.Tracing.Endpoint = "collector:4318" }, "telemetry: Endpoint"},
		{"no admin address", func(c *Config) { c.AdminAddr = "" }, "AdminAddr"},
		{"no view deadline", func(c *Config) { c.ViewTimeout = 0 }, "ViewTimeout"},
		{"undo shorter than an open breaker", func(c *Config) { c.Order.CompensationBudget = c.Upstream.Breaker.OpenTimeout },
			"Order.CompensationBudget 5s must be longer than Upstream.Breaker.OpenTimeout 5s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("Validate() = %v: quotes the Redis password", err)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// Each ceiling itself is taken.
	c := DefaultConfig()
	c.HTTP.HeaderLimit, c.HTTP.BodyLimit, c.HTTP.MaxConns, c.Upstream.Retries = 64<<10, 1<<20, 1<<20, 10
	if err := c.Validate(); err != nil {
		t.Errorf("limits at their ceilings: got %v, want valid", err)
	}
	// A policy turned off needs no window.
	c = DefaultConfig()
	c.RateLimit.Login.Quota, c.RateLimit.Login.Window = 0, 0
	if err := c.Validate(); err != nil {
		t.Errorf("login policy off: got %v, want valid", err)
	}
}
