package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/gateway"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadBase(t *testing.T) {
	b := gateway.DefaultConfig()
	l := NewLoader(env(map[string]string{
		"LOG_LEVEL":             "debug",
		"UPSTREAM_PRODUCT_URLS": "http://a:1, http://b:2",
		"UPSTREAM_CALL_TIMEOUT": "750ms",
		"HTTP_BODY_LIMIT":       "1024",
		"HTTP_HSTS":             "true",
		"AUTH_LEEWAY":           "5s",
		"ORDER_TIMEOUT":         "3s",
		"IDEMPOTENCY_TTL":       "1h",
		"REDIS_URL":             "redis://:secret@redis:6379/2",
	}))
	LoadBase(l, &b)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	want := gateway.DefaultConfig()
	want.LogLevel = "debug"
	want.Upstreams.Product = []string{"http://a:1", "http://b:2"}
	want.Upstream.Timeout = 750 * time.Millisecond
	want.HTTP.BodyLimit = 1024
	want.HTTP.HSTS = true
	want.Auth.Leeway = 5 * time.Second
	want.Order.Timeout = 3 * time.Second
	want.Order.Retention = time.Hour
	want.RedisURL = "redis://:secret@redis:6379/2"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
}

func TestLoadReportsEveryBadSetting(t *testing.T) {
	b := gateway.DefaultConfig()
	l := NewLoader(env(map[string]string{
		"UPSTREAM_ORDER_URLS":   "ftp://x",
		"UPSTREAM_CALL_TIMEOUT": "soon",
		"HTTP_BODY_LIMIT":       "big",
		"HTTP_HSTS":             "maybe",
		"ORDER_TIMEOUT":         "-1s",
	}))
	LoadBase(l, &b)
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

// TestEmptyListIsRefused: a list variable holding only commas and spaces is
// a mistake, not a request for the default, which only an unset variable
// makes.
func TestEmptyListIsRefused(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"REDIS_ADDRS", ",", `REDIS_ADDRS=",": lists nothing`},
		{"REDIS_ADDRS", ", ,,", `REDIS_ADDRS=", ,,": lists nothing`},
		{"UPSTREAM_USER_URLS", " , ", `UPSTREAM_USER_URLS=",": lists nothing`},
		{"UPSTREAM_PRODUCT_URLS", ",", `UPSTREAM_PRODUCT_URLS=",": lists nothing`},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := NewLoader(env(map[string]string{tc.name: tc.value}))
			LoadBase(l, &b)
			if err := l.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one saying %s", err, tc.want)
			}
		})
	}
}

// TestLimitsOverTheirCeilingAreRefused: a limit that would cost memory per
// connection, or overflow where it is added to, is refused at start, named
// by its variable's value.
func TestLimitsOverTheirCeilingAreRefused(t *testing.T) {
	cases := []struct{ name, value string }{
		{"HTTP_HEADER_LIMIT", "1099511627776"},
		{"HTTP_HEADER_LIMIT", "8388608"},
		{"HTTP_BODY_LIMIT", "1099511627776"},
		{"HTTP_MAX_CONNS", "9223372036854775807"},
		{"UPSTREAM_GET_RETRIES", "9223372036854775807"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := NewLoader(env(map[string]string{tc.name: tc.value}))
			LoadBase(l, &b)
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			if err := b.Validate(); err == nil {
				t.Errorf("%s=%s: got no error, want it refused", tc.name, tc.value)
			}
		})
	}
}

// TestInstanceURLs: an instance URL the upstream client cannot call is
// refused at load, named by its variable, rather than failing every call
// or the client's construction later.
func TestInstanceURLs(t *testing.T) {
	refused := []struct{ value, want string }{
		{"http://127.0.0.1:99999", "port 99999 is not from 1 to 65535"},
		{"http://127.0.0.1:0", "port 0 is not from 1 to 65535"},
		{"http://127.0.0.1:", "empty port"},
		{"http://product/?v=1", "without a query"},
		{"http://product/?", "without a query"},
		{"http://product/#top", "without a query or fragment"},
		{"http://user:pw@product", "user or password"},
		{"http://:8001", "no host"},
		{"ftp://product", "not an absolute http(s) URL"},
		{"product:8001", "not an absolute http(s) URL"},
		{"http://ok:8001, http://[::1]:70000", `"http://[::1]:70000": port 70000`},
	}
	for _, tc := range refused {
		t.Run(tc.value, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := NewLoader(env(map[string]string{"UPSTREAM_PRODUCT_URLS": tc.value}))
			LoadBase(l, &b)
			err := l.Err()
			if err == nil || !strings.Contains(err.Error(), "UPSTREAM_PRODUCT_URLS=") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one naming UPSTREAM_PRODUCT_URLS and saying %q", err, tc.want)
			}
		})
	}
	taken := []string{"http://product", "https://product:443/api/", "http://10.0.0.1:65535", "http://[::1]:8001/v2"}
	for _, v := range taken {
		b := gateway.DefaultConfig()
		l := NewLoader(env(map[string]string{"UPSTREAM_ORDER_URLS": v}))
		LoadBase(l, &b)
		if err := l.Err(); err != nil || b.Upstreams.Order[0] != v {
			t.Errorf("UPSTREAM_ORDER_URLS=%s: got %v, %q, want it taken", v, err, b.Upstreams.Order)
		}
	}
}
