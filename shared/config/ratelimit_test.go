package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRateLimitSettings(t *testing.T) {
	b := DefaultBase()
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
	b.Load(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	want := RateLimit{
		Default:        Quota{Requests: 50, Window: 10 * time.Second},
		Login:          Quota{Requests: 0, Window: time.Minute},
		Orders:         Quota{Requests: 10, Window: time.Hour},
		ClientIPHeader: "X-Forwarded-For",
		MaxKeys:        1000,
	}
	if !reflect.DeepEqual(b.RateLimit, want) {
		t.Errorf("got %+v, want %+v", b.RateLimit, want)
	}
	if b.Auth.JWKSRefreshInterval != time.Minute || b.Auth.MaxTokenBytes != 4096 {
		t.Errorf("got auth %+v, want a 1m refresh interval and 4096 bytes", b.Auth)
	}
}

func TestRateLimitValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Base)
		want string
	}{
		{"negative quota", func(b *Base) { b.RateLimit.Orders.Requests = -1 }, "RATE_LIMIT_ORDER_REQUESTS"},
		{"window below a second", func(b *Base) { b.RateLimit.Login.Window = 500 * time.Millisecond }, "RATE_LIMIT_LOGIN_WINDOW"},
		{"window not whole seconds", func(b *Base) { b.RateLimit.Default.Window = 1500 * time.Millisecond }, "RATE_LIMIT_DEFAULT_WINDOW"},
		{"no keys", func(b *Base) { b.RateLimit.MaxKeys = 0 }, "RATE_LIMIT_MAX_KEYS"},
		{"header with a space", func(b *Base) { b.RateLimit.ClientIPHeader = "X Forwarded" }, "RATE_LIMIT_CLIENT_IP_HEADER"},
		{"no refresh interval", func(b *Base) { b.Auth.JWKSRefreshInterval = 0 }, "AUTH_JWKS_REFRESH_INTERVAL"},
		{"no token size", func(b *Base) { b.Auth.MaxTokenBytes = 0 }, "AUTH_MAX_TOKEN_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBase()
			tt.edit(&b)
			if err := b.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
	// A policy turned off needs no window.
	b := DefaultBase()
	b.RateLimit.Login = Quota{}
	if err := b.Validate(); err != nil {
		t.Errorf("login policy off: got %v, want valid", err)
	}
}
