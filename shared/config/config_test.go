package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadBase(t *testing.T) {
	b := DefaultBase()
	l := NewLoader(env(map[string]string{
		"LOG_LEVEL":             "debug",
		"UPSTREAM_PRODUCT_URLS": "http://a:1, http://b:2",
		"UPSTREAM_CALL_TIMEOUT": "750ms",
		"HTTP_BODY_LIMIT":       "1024",
		"HTTP_HSTS":             "true",
		"AUTH_LEEWAY":           "5s",
		"ORDER_TIMEOUT":         "3s",
		"REDIS_URL":             "redis://:secret@redis:6379/2",
	}))
	b.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultBase()
	want.LogLevel = "debug"
	want.Upstreams.Product = []string{"http://a:1", "http://b:2"}
	want.Upstreams.CallTimeout = 750 * time.Millisecond
	want.HTTP.BodyLimit = 1024
	want.HTTP.HSTS = true
	want.Auth.Leeway = 5 * time.Second
	want.Order.Timeout = 3 * time.Second
	want.RedisURL = "redis://:secret@redis:6379/2"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
}

func TestLoadReportsEveryBadSetting(t *testing.T) {
	b := DefaultBase()
	l := NewLoader(env(map[string]string{
		"UPSTREAM_ORDER_URLS":   "ftp://x",
		"UPSTREAM_CALL_TIMEOUT": "soon",
		"HTTP_BODY_LIMIT":       "big",
		"HTTP_HSTS":             "maybe",
		"ORDER_TIMEOUT":         "-1s",
	}))
	b.Load(l)
	err := l.Err()
	if err == nil {
		t.Fatal("got nil error, want one naming each bad setting")
	}
	for _, name := range []string{"UPSTREAM_ORDER_URLS", "UPSTREAM_CALL_TIMEOUT", "HTTP_BODY_LIMIT", "HTTP_HSTS", "ORDER_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Base)
		want   string
	}{
		{"no product upstream", func(b *Base) { b.Upstreams.Product = nil }, "no product upstream"},
		{"bad log level", func(b *Base) { b.LogLevel = "loud" }, "LOG_LEVEL"},
		{"no issuer", func(b *Base) { b.Auth.Issuer = "" }, "AUTH_ISSUER"},
		{"zero order timeout", func(b *Base) { b.Order.Timeout = 0 }, "ORDER_TIMEOUT"},
		{"zero idempotency ttl", func(b *Base) { b.IdempotencyTTL = 0 }, "IDEMPOTENCY_TTL"},
		{"redis url without a host", func(b *Base) { b.RedisURL = "redis:///0" }, "REDIS_URL"},
		{"redis url of another scheme", func(b *Base) { b.RedisURL = "http://:secret@redis:6379" }, "REDIS_URL"},
		{"redis address without a scheme", func(b *Base) { b.RedisURL = "redis:6379" }, "REDIS_URL"},
		{"undo shorter than an open breaker", func(b *Base) { b.Order.CompensationBudget = b.Upstreams.BreakerOpenTimeout }, "ORDER_COMPENSATION_BUDGET must be longer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := DefaultBase()
			tc.mutate(&b)
			err := b.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if err := DefaultBase().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
