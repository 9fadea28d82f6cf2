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
		{"csrf cookie named as the session's", map[string]string{"BFF_CSRF_COOKIE_NAME": "sf_session"}, `BFF_CSRF_COOKIE_NAME="sf_session": the same as BFF_COOKIE_NAME`},
		{"session cookie named as the csrf's", map[string]string{"BFF_COOKIE_NAME": "sf_csrf"}, `BFF_CSRF_COOKIE_NAME="sf_csrf": the same as BFF_COOKIE_NAME`},
		{"cookie name with a semicolon", map[string]string{"BFF_COOKIE_NAME": "bad;name"}, `BFF_COOKIE_NAME="bad;name": want a cookie name`},
		{"cookie name with an equals sign", map[string]string{"BFF_CSRF_COOKIE_NAME": "csrf=1"}, `BFF_CSRF_COOKIE_NAME="csrf=1": want a cookie name`},
		{"cookie name with a space", map[string]string{"BFF_COOKIE_NAME": "sf session"}, `BFF_COOKIE_NAME="sf session": want a cookie name`},
		{"cookie name with a control character", map[string]string{"BFF_COOKIE_NAME": "sf\x7fsession"}, `BFF_COOKIE_NAME="sf\x7fsession": want a cookie name`},
		{"cookie name with a separator", map[string]string{"BFF_CSRF_COOKIE_NAME": "csrf/token"}, `BFF_CSRF_COOKIE_NAME="csrf/token": want a cookie name`},
		{"cookie name outside ASCII", map[string]string{"BFF_CSRF_COOKIE_NAME": "jeton_é"}, `BFF_CSRF_COOKIE_NAME="jeton_é": want a cookie name`},
		{"csrf cookie name with a prefix", map[string]string{"BFF_CSRF_COOKIE_NAME": "__Host-csrf"}, ""},
		{"csrf cookie name of every token character", map[string]string{"BFF_CSRF_COOKIE_NAME": "csrf!#$%&'*+-.^_`|~9"}, ""},
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
