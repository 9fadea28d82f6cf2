package main

import (
	"strings"
	"testing"
)

// TestListenAddresses: a listen address that cannot be bound is refused at
// load, named by its variable, before anything is opened; two that would
// take the same port are refused together.
func TestListenAddresses(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"no port", map[string]string{"BFF_MOBILE_ADDR": "nonsense"}, `BFF_MOBILE_ADDR="nonsense": want host:port`},
		{"port out of range", map[string]string{"BFF_MOBILE_ADDR": "127.0.0.1:65536"}, `BFF_MOBILE_ADDR="127.0.0.1:65536": port "65536"`},
		{"named port", map[string]string{"BFF_MOBILE_ADDR": ":http"}, `BFF_MOBILE_ADDR=":http": port "http"`},
		{"host with a space", map[string]string{"ADMIN_ADDR": "my host:9190"}, `ADMIN_ADDR="my host:9190": host "my host"`},
		{"admin on the public port", map[string]string{"BFF_MOBILE_ADDR": "0.0.0.0:9000", "ADMIN_ADDR": "127.0.0.1:9000"},
			"BFF_MOBILE_ADDR and ADMIN_ADDR: 0.0.0.0:9000 and 127.0.0.1:9000 take the same port"},
		{"admin equal to the public address", map[string]string{"BFF_MOBILE_ADDR": "[::1]:9000", "ADMIN_ADDR": "[::1]:9000"},
			"BFF_MOBILE_ADDR and ADMIN_ADDR"},
		{"both on free ports", map[string]string{"BFF_MOBILE_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0"}, ""},
		{"one port on two hosts", map[string]string{"BFF_MOBILE_ADDR": "10.0.0.1:9000", "ADMIN_ADDR": "127.0.0.1:9000"}, ""},
		{"host name", map[string]string{"BFF_MOBILE_ADDR": "bff-mobile.internal:8090"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(func(k string) string { return tc.env[k] })
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("loadConfig: %v, want the addresses taken", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("loadConfig error = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestRefusalsNameTheVariable: a setting a package's Validate refuses is
// named in the error, with its value, and so are the other settings its
// message names.
func TestRefusalsNameTheVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"VIEW_TIMEOUT": "0"}, []string{`VIEW_TIMEOUT="0": gateway: ViewTimeout 0s must be positive`}},
		{map[string]string{"IDEMPOTENCY_TTL": "0"}, []string{`IDEMPOTENCY_TTL="0": orderflow: Retention 0s must be positive`}},
		{map[string]string{"UPSTREAM_CALL_TIMEOUT": "0"}, []string{`UPSTREAM_CALL_TIMEOUT="0": upstream: Timeout 0s`}},
		{map[string]string{"ADMISSION_MAX_LIMIT": "50"}, []string{`ADMISSION_MAX_LIMIT="50": admission:`, "InitialLimit is ADMISSION_INITIAL_LIMIT"}},
	}
	for _, tc := range cases {
		_, err := loadConfig(func(k string) string { return tc.env[k] })
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: got %v, want an error saying %q", tc.env, err, w)
			}
		}
	}
}
