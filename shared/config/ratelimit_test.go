package config

import (
	"reflect"
	"testing"
	"time"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/ratelimit"
)

func TestRateLimitSettings(t *testing.T) {
	b := gateway.DefaultConfig()
	l := NewLoader(env(map[string]string{
		"RATE_LIMIT_DEFAULT_REQUESTS": "50",
		"RATE_LIMIT_DEFAULT_WINDOW":   "10s",
		"RATE_LIMIT_LOGIN_REQUESTS":   "0",
		"RATE_LIMIT_ORDER_WINDOW":     "1h",
		"RATE_LIMIT_CLIENT_IP_HEADER": "X-Forwarded-For",
		"RATE_LIMIT_MAX_KEYS":         "1000",
		"AUTH_JWKS_REFRESH_INTERVAL":  "1m",
		"AUTH_MAX_TOKEN_BYTES":        "4096",
	}))
	LoadBase(l, &b)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	want := ratelimit.Config{
		Default: ratelimit.Policy{Name: "default", Quota: 50, Window: 10 * time.Second},
		Login:   ratelimit.Policy{Name: "login", Quota: 0, Window: time.Minute},
		Orders:  ratelimit.Policy{Name: "orders", Quota: 10, Window: time.Hour},
		MaxKeys: 1000,
	}
	if !reflect.DeepEqual(b.RateLimit, want) {
		t.Errorf("got %+v, want %+v", b.RateLimit, want)
	}
	if b.HTTP.ClientIPHeader != "X-Forwarded-For" {
		t.Errorf("got client IP header %q, want X-Forwarded-For", b.HTTP.ClientIPHeader)
	}
	if b.Auth.RefreshInterval != time.Minute || b.Auth.MaxTokenBytes != 4096 {
		t.Errorf("got auth %+v, want a 1m refresh interval and 4096 bytes", b.Auth)
	}
}
