package config

import (
	"strings"
	"testing"

	"storefront.dev/shared/gateway"
)

// TestCheckNamesTheVariables: a refusal by a package's Validate, which
// speaks of its Config's fields, names the variables that caused it, with
// their values, and the variables of the other fields its message names.
func TestCheckNamesTheVariables(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		// want are the lines of the error, each in a line of its own;
		// unwanted must be in none.
		want     []string
		unwanted []string
	}{
		{"view deadline", map[string]string{"VIEW_TIMEOUT": "0", "LOG_LEVEL": "debug"},
			[]string{`VIEW_TIMEOUT="0": gateway: ViewTimeout 0s must be positive`}, []string{"LOG_LEVEL"}},
		{"idempotency retention", map[string]string{"IDEMPOTENCY_TTL": "0"},
			[]string{`IDEMPOTENCY_TTL="0": orderflow: Retention 0s must be positive`}, nil},
		{"call timeout", map[string]string{"UPSTREAM_CALL_TIMEOUT": "0"},
			[]string{`UPSTREAM_CALL_TIMEOUT="0": upstream: Timeout 0s`}, nil},
		{"a rule over several fields", map[string]string{"ADMISSION_MAX_LIMIT": "50"},
			[]string{`ADMISSION_MAX_LIMIT="50": admission: want 1 ≤ MinLimit ≤ InitialLimit ≤ MaxLimit ≤ 1048576, got 20, 100, 50 (`,
				"InitialLimit is ADMISSION_INITIAL_LIMIT", "MinLimit is ADMISSION_MIN_LIMIT"}, nil},
		{"a rule across packages", map[string]string{"ORDER_COMPENSATION_BUDGET": "1s"},
			[]string{`ORDER_COMPENSATION_BUDGET="1s": gateway: Order.CompensationBudget 1s must be longer than Upstream.Breaker.OpenTimeout 5s (`,
				"Upstream.Breaker.OpenTimeout is UPSTREAM_BREAKER_OPEN_TIMEOUT"}, nil},
		{"two errors, each its own variable", map[string]string{"VIEW_TIMEOUT": "0", "IDEMPOTENCY_TTL": "0"},
			[]string{`VIEW_TIMEOUT="0": gateway: ViewTimeout`, `IDEMPOTENCY_TTL="0": orderflow: Retention`}, nil},
		{"two variables that disagree", map[string]string{"CACHE_PRODUCT_TTL": "1s", "CACHE_STOCK_TTL": "5s"},
			[]string{`CACHE_PRODUCT_TTL="1s", CACHE_STOCK_TTL="5s": catalog: StockTTL 5s must not exceed ProductTTL 1s`}, nil},
		{"two variables each wrong in one message", map[string]string{"UPSTREAM_BREAKER_FAILURES": "0", "UPSTREAM_BREAKER_OPEN_TIMEOUT": "0"},
			[]string{`UPSTREAM_BREAKER_FAILURES="0", UPSTREAM_BREAKER_OPEN_TIMEOUT="0": upstream: Breaker`}, nil},
		{"a limit over its ceiling", map[string]string{"HTTP_HEADER_LIMIT": "1099511627776"},
			[]string{`HTTP_HEADER_LIMIT="1099511627776": httpserver: HeaderLimit`}, nil},
		{"two settings that exclude each other", map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_ADDRS": "r:26379"},
			[]string{`REDIS_URL="redis://r:6379", REDIS_ADDRS="r:26379": gateway: set RedisURL or RedisAddrs, not both`}, nil},
		{"a message that names its variable", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"},
			[]string{`OTEL_TRACES_SAMPLER "sometimes"`}, []string{`OTEL_TRACES_SAMPLER="sometimes"`}},
		// A credential's value is hidden: the error is logged by a BFF
		// that will not start. Of a Redis URL, the scheme and address show.
		{"passwords", map[string]string{"REDIS_URL": "redis://:S3cretPass@r:6379/0", "REDIS_PASSWORD": "OtherSecret"},
			[]string{`REDIS_URL=(hidden), REDIS_PASSWORD=(hidden): gateway:`}, []string{"Secret"}},
		{"a password with a slash", map[string]string{"REDIS_URL": "redis://S3cr/et@r:6379/0", "REDIS_PASSWORD": "x"},
			[]string{`REDIS_URL=(hidden)`}, []string{"S3cr"}},
		{"a password in the query", map[string]string{"REDIS_URL": "redis://r:6379/0?password=S3cretToo", "REDIS_PASSWORD": "x"},
			[]string{`REDIS_URL="redis://r:6379" (the rest hidden)`}, []string{"S3cret"}},
		{"a URL that does not parse", map[string]string{"REDIS_URL": "http//:S3cretPass@r:6379/0", "REDIS_ADDRS": "r:26379"},
			[]string{`REDIS_URL=(hidden), REDIS_ADDRS="r:26379"`}, []string{"Secret"}},
		{"a URL the Redis client refuses", map[string]string{"REDIS_URL": "redis://:S3cretPass@r:6379/x"},
			[]string{`REDIS_URL=(hidden): gateway: RedisURL: not a URL`}, []string{"Secret"}},
		{"an OTLP endpoint with a key in its query", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https:///v1/traces?api_key=S3cret"},
			[]string{`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=`, `telemetry: TracesEndpoint`}, []string{"S3cret"}},
		{"the cursor key", map[string]string{"CURSOR_KEY": "c2hvcnRzZWNyZXQ="}, []string{`CURSOR_KEY=(hidden): gateway: CursorKey`}, []string{"c2hvcnRzZWNyZXQ"}},
		{"the sentinels' password", map[string]string{"REDIS_SENTINEL_PASSWORD": "SentinelPw"}, []string{`REDIS_SENTINEL_PASSWORD=(hidden): gateway:`}, []string{"SentinelPw"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := NewLoader(env(tc.env))
			LoadBase(l, &b)
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			err := Check(l, &b, gateway.DefaultConfig(), gateway.Config.Validate)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
			for _, u := range tc.unwanted {
				if strings.Contains(err.Error(), u) {
					t.Errorf("got %q, which says %q", err, u)
				}
			}
		})
	}
	b := gateway.DefaultConfig()
	l := NewLoader(env(map[string]string{"VIEW_TIMEOUT": "5s"}))
	LoadBase(l, &b)
	if err := Check(l, &b, gateway.DefaultConfig(), gateway.Config.Validate); err != nil {
		t.Errorf("valid settings: got %v", err)
	}
}

// TestMentions: a term is a word of the message, not a part of a longer
// name.
func TestMentions(t *testing.T) {
	cases := []struct {
		msg, term string
		want      bool
	}{
		{"Timeout 0s and DialTimeout 5s", "Timeout", true},
		{"DialTimeout 5s", "Timeout", false},
		{"Order.Timeout 5s", "Timeout", false},
		{"Order.Timeout 5s", "Order.Timeout", true},
		{"want MaxLimit.", "MaxLimit", true},
		{"{ConsecutiveFailures:0 MinRequests:20}", "ConsecutiveFailures", true},
		{"RedisURLs", "RedisURL", false},
	}
	for _, tc := range cases {
		if got := mentions(tc.msg, tc.term); got != tc.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", tc.msg, tc.term, got, tc.want)
		}
	}
}
