package config

import (
	"reflect"
	"strconv"
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

// TestLimitsOutOfBoundsAreRefused: a limit that would cost memory per
// connection, or overflow where it is added to, or a period so short that
// its work would loop, is refused at start, named by its variable's value.
func TestLimitsOutOfBoundsAreRefused(t *testing.T) {
	cases := []struct{ name, value string }{
		{"HTTP_HEADER_LIMIT", "1099511627776"},
		{"HTTP_HEADER_LIMIT", "8388608"},
		{"HTTP_BODY_LIMIT", "1099511627776"},
		{"HTTP_MAX_CONNS", "9223372036854775807"},
		{"UPSTREAM_GET_RETRIES", "9223372036854775807"},
		{"UPSTREAM_DNS_REFRESH", "1us"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := NewLoader(env(map[string]string{tc.name: tc.value}))
			LoadBase(l, &b)
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			err := Check(l, &b, gateway.DefaultConfig(), gateway.Config.Validate)
			if want := tc.name + "=" + strconv.Quote(tc.value); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want it refused, naming %s", err, want)
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
		{"http://user:s3cret@product", `UPSTREAM_PRODUCT_URLS=(hidden): a user or password`},
		{"http://user:s3cret@product/?v=1", `UPSTREAM_PRODUCT_URLS=(hidden): a user or password`},
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
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %v shows the password", err)
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

// TestListenAddrs: listen addresses are checked at load, each error naming
// its variable, and two that would take one port are refused together,
// whether set or left at their defaults.
func TestListenAddrs(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string // "" for taken
	}{
		{"admin without a port", map[string]string{"ADMIN_ADDR": "nonsense"}, `ADMIN_ADDR="nonsense": want host:port`},
		{"public port out of range", map[string]string{"PUBLIC_ADDR": ":70000"}, `PUBLIC_ADDR=":70000": port "70000"`},
		{"admin on the public port", map[string]string{"ADMIN_ADDR": "127.0.0.1:8080"},
			"PUBLIC_ADDR (unset: default) and ADMIN_ADDR: :8080 and 127.0.0.1:8080 take the same port"},
		{"both on free ports", map[string]string{"PUBLIC_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0"}, ""},
		{"one port, IPv4 and IPv6 loopback", map[string]string{"PUBLIC_ADDR": "[::1]:9180"}, ""},
		{"one port on every IPv6 interface", map[string]string{"PUBLIC_ADDR": "[::]:9180"}, "PUBLIC_ADDR and ADMIN_ADDR (unset: default)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, public := gateway.DefaultConfig(), ":8080"
			l := NewLoader(env(tc.env))
			l.Addr(&public, "PUBLIC_ADDR")
			LoadBase(l, &b)
			err := l.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want the addresses taken", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestOTLPEndpointPasswordHidden: an endpoint refused at start is named
// without the password its user part may hold.
func TestOTLPEndpointPasswordHidden(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		b := gateway.DefaultConfig()
		l := NewLoader(env(map[string]string{name: "grpc://otel:s3cret@collector:4317"}))
		LoadBase(l, &b)
		err := l.Err()
		if err == nil {
			err = Check(l, &b, gateway.DefaultConfig(), gateway.Config.Validate)
		}
		if err == nil || !strings.Contains(err.Error(), name+"=") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: got %v, want it refused, named, without the password", name, err)
		}
	}
}
