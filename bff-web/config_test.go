package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", map[string]string{}, ""},
		{"local plain http", map[string]string{"BFF_COOKIE_SECURE": "false", "BFF_ALLOWED_ORIGINS": "http://127.0.0.1:5173"}, ""},
		{"samesite none without secure", map[string]string{"BFF_COOKIE_SAMESITE": "None", "BFF_COOKIE_SECURE": "false"}, "requires BFF_COOKIE_SECURE"},
		{"unknown samesite", map[string]string{"BFF_COOKIE_SAMESITE": "sometimes"}, "BFF_COOKIE_SAMESITE"},
		{"origin with a path", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example/app"}, "BFF_ALLOWED_ORIGINS"},
		{"no idle timeout", map[string]string{"SESSION_IDLE_TIMEOUT": "0s"}, "IdleTimeout"},
		{"bad shared setting", map[string]string{"ORDER_TIMEOUT": "later"}, "ORDER_TIMEOUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("loadConfig error = %v, want one mentioning %q", err, tc.wantErr)
			case tc.wantErr == "" && (cfg.Addr != ":8080" || cfg.Session.CookieName != "sf_session"):
				t.Errorf("cfg = %+v, want the defaults' address and cookie", cfg)
			}
		})
	}
}
