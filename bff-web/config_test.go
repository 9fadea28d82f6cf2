package main

import (
	"slices"
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
		{"session max age of a nanosecond", map[string]string{"SESSION_MAX_AGE": "1ns"}, `SESSION_MAX_AGE="1ns": session: MaxAge 1ns must be at least 1m0s`},
		{"session max age under a minute", map[string]string{"SESSION_MAX_AGE": "59s"}, `SESSION_MAX_AGE="59s": session: MaxAge 59s must be at least 1m0s`},
		{"session max age of a minute", map[string]string{"SESSION_MAX_AGE": "1m"}, ""},
		{"bad shared setting", map[string]string{"ORDER_TIMEOUT": "later"}, "ORDER_TIMEOUT"},
		{"shared setting refused by its package", map[string]string{"VIEW_TIMEOUT": "0"}, `VIEW_TIMEOUT="0": gateway: ViewTimeout 0s must be positive`},
		{"session setting refused by its package", map[string]string{"SESSION_IDLE_TIMEOUT": "0s"}, `SESSION_IDLE_TIMEOUT="0s": session: IdleTimeout`},
		{"origin with a query", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com?x=1"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com?x=1" is not an origin`},
		{"origin with an empty query", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com?"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com?" is not an origin`},
		{"origin with a fragment", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com#top"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com#top" is not an origin`},
		{"origin with an empty fragment", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com#"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com#" is not an origin`},
		{"origin with a user and password", map[string]string{"BFF_ALLOWED_ORIGINS": "https://user:pw@shop.example.com"}, `BFF_ALLOWED_ORIGINS: "https://user:pw@shop.example.com" is not an origin`},
		{"origin with an empty user", map[string]string{"BFF_ALLOWED_ORIGINS": "https://@shop.example.com"}, `BFF_ALLOWED_ORIGINS: "https://@shop.example.com" is not an origin`},
		{"origin with a trailing slash", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com/"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com/" is not an origin`},
		{"origin of another scheme", map[string]string{"BFF_ALLOWED_ORIGINS": "ftp://shop.example.com"}, `BFF_ALLOWED_ORIGINS: "ftp://shop.example.com" is not an origin`},
		{"opaque origin", map[string]string{"BFF_ALLOWED_ORIGINS": "null"}, `BFF_ALLOWED_ORIGINS: "null" is not an origin`},
		{"origin without a host", map[string]string{"BFF_ALLOWED_ORIGINS": "https:shop.example.com"}, `BFF_ALLOWED_ORIGINS: "https:shop.example.com" is not an origin`},
		{"origin with a port and no host", map[string]string{"BFF_ALLOWED_ORIGINS": "https://:443"}, `BFF_ALLOWED_ORIGINS: "https://:443" is not an origin`},
		{"origin with a port out of range", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com:65536"}, `BFF_ALLOWED_ORIGINS: "https://shop.example.com:65536" is not an origin`},
		{"origin with a host outside ASCII", map[string]string{"BFF_ALLOWED_ORIGINS": "https://bücher.example"}, `BFF_ALLOWED_ORIGINS: "https://bücher.example" is not an origin`},
		{"origin with an IPv6 zone", map[string]string{"BFF_ALLOWED_ORIGINS": "http://[fe80::1%25eth0]:5173"}, `BFF_ALLOWED_ORIGINS: "http://[fe80::1%25eth0]:5173" is not an origin`},
		{"one bad origin among good ones", map[string]string{"BFF_ALLOWED_ORIGINS": "https://shop.example.com, https://user@shop.example.com"}, `BFF_ALLOWED_ORIGINS: "https://user@shop.example.com" is not an origin`},
		{"origins of only commas", map[string]string{"BFF_ALLOWED_ORIGINS": " , "}, `BFF_ALLOWED_ORIGINS=",": lists nothing`},
		{"csrf cookie named as the session's", map[string]string{"BFF_CSRF_COOKIE_NAME": "sf_session"}, `BFF_CSRF_COOKIE_NAME="sf_session": the same as BFF_COOKIE_NAME`},
		{"session cookie named as the csrf's", map[string]string{"BFF_COOKIE_NAME": "sf_csrf"}, `BFF_CSRF_COOKIE_NAME="sf_csrf": the same as BFF_COOKIE_NAME`},
		{"cookie name with a semicolon", map[string]string{"BFF_COOKIE_NAME": "bad;name"}, `BFF_COOKIE_NAME="bad;name": want a cookie name`},
		{"cookie name with an equals sign", map[string]string{"BFF_CSRF_COOKIE_NAME": "csrf=1"}, `BFF_CSRF_COOKIE_NAME="csrf=1": want a cookie name`},
		{"cookie name with a space", map[string]string{"BFF_COOKIE_NAME": "sf session"}, `BFF_COOKIE_NAME="sf session": want a cookie name`},
		{"cookie name with a control character", map[string]string{"BFF_COOKIE_NAME": "sf\x7fsession"}, `BFF_COOKIE_NAME="sf\x7fsession": want a cookie name`},
		{"cookie name with a separator", map[string]string{"BFF_CSRF_COOKIE_NAME": "csrf/token"}, `BFF_CSRF_COOKIE_NAME="csrf/token": want a cookie name`},
		{"cookie name outside ASCII", map[string]string{"BFF_CSRF_COOKIE_NAME": "jeton_é"}, `BFF_CSRF_COOKIE_NAME="jeton_é": want a cookie name`},
		{"listen address without a port", map[string]string{"BFF_WEB_ADDR": "nonsense"}, `BFF_WEB_ADDR="nonsense": want host:port`},
		{"listen port out of range", map[string]string{"BFF_WEB_ADDR": ":99999"}, `BFF_WEB_ADDR=":99999": port "99999" is not a number from 0 to 65535`},
		{"admin address without a port", map[string]string{"ADMIN_ADDR": "localhost"}, `ADMIN_ADDR="localhost": want host:port`},
		{"admin listener on the public port", map[string]string{"ADMIN_ADDR": "127.0.0.1:8080"},
			"BFF_WEB_ADDR (unset: default) and ADMIN_ADDR: :8080 and 127.0.0.1:8080 take the same port"},
		{"public listener on the admin port", map[string]string{"BFF_WEB_ADDR": "127.0.0.1:9180"},
			"BFF_WEB_ADDR and ADMIN_ADDR (unset: default): 127.0.0.1:9180 and 127.0.0.1:9180 take the same port"},
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

// TestAllowedOriginsAsBrowsersSendThem: the configured origins are kept in
// the form of a browser's Origin header, which the CORS and CSRF checks
// compare byte for byte.
func TestAllowedOriginsAsBrowsersSendThem(t *testing.T) {
	cases := []struct {
		name, set string
		want      []string
	}{
		{"already canonical", "https://shop.example.com", []string{"https://shop.example.com"}},
		{"capitals in the host", "https://Shop.Example.COM", []string{"https://shop.example.com"}},
		{"capitals in the scheme", "HTTPS://shop.example.com", []string{"https://shop.example.com"}},
		{"https default port", "https://shop.example.com:443", []string{"https://shop.example.com"}},
		{"http default port", "http://shop.example.com:80", []string{"http://shop.example.com"}},
		{"another scheme's default port", "http://shop.example.com:443", []string{"http://shop.example.com:443"}},
		{"port with a leading zero", "https://shop.example.com:0443", []string{"https://shop.example.com"}},
		{"empty port", "https://shop.example.com:", []string{"https://shop.example.com"}},
		{"other port", "http://127.0.0.1:5173", []string{"http://127.0.0.1:5173"}},
		{"IPv6 address", "http://[0:0:0:0:0:0:0:1]:80", []string{"http://[::1]"}},
		{"IPv6 address in capitals", "http://[FD00::A]:5173", []string{"http://[fd00::a]:5173"}},
		{"several", "https://Shop.Example.com:443, http://localhost:5173", []string{"https://shop.example.com", "http://localhost:5173"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return map[string]string{"BFF_ALLOWED_ORIGINS": tc.set}[k] })
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if !slices.Equal(cfg.AllowedOrigins, tc.want) {
				t.Errorf("got AllowedOrigins %q, want %q", cfg.AllowedOrigins, tc.want)
			}
		})
	}
}

// TestCORSWithAnOriginWrittenOtherwise: an origin configured with capitals
// and its default port grants the SPA, whose browser sends it in lower case
// and without the port.
func TestCORSWithAnOriginWrittenOtherwise(t *testing.T) {
	s := startStack(t, "BFF_ALLOWED_ORIGINS", "https://Shop.Example.com:443")
	r := preflight(t, s.Base+"/api/orders", spaOrigin)
	if r.Status != 204 {
		t.Fatalf("got status %d, want 204; body %s", r.Status, r.Body)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
		t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, spaOrigin)
	}
}
