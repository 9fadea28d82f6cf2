package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/upstream/product"
)

func TestRun(t *testing.T) {
	env := map[string]string{
		"SANDBOX_PRODUCT_ADDR":      "127.0.0.1:0",
		"SANDBOX_ORDER_ADDR":        "127.0.0.1:0",
		"SANDBOX_PAYMENT_ADDR":      "127.0.0.1:0",
		"SANDBOX_USER_ADDR":         "127.0.0.1:0",
		"SANDBOX_NOTIFICATION_ADDR": "127.0.0.1:0",
		"SANDBOX_RESERVATION_TTL":   "90s",
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, stdout := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, stdout)
		stdout.Close()
	}()

	urls := map[string]string{}
	sc := bufio.NewScanner(out)
	for len(urls) < 5 && sc.Scan() {
		name, url, _ := strings.Cut(sc.Text(), " ")
		urls[name] = strings.TrimSpace(url)
	}
	if len(urls) != 5 {
		t.Fatalf("got URLs %v, want five", urls)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	for name, path := range map[string]string{
		"product": "/products/1", "order": "/orders?user_id=usr_ada", "payment": "/__admin/state",
		"user": "/.well-known/jwks.json", "notification": "/__admin/state",
	} {
		resp, err := http.Get(urls[name] + path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s%s: got %d, want 200", name, path, resp.StatusCode)
		}
	}

	resp, err := http.Post(urls["product"]+"/reservations", "application/json",
		strings.NewReader(`{"reference":"r","items":[{"product_id":1,"quantity":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("reserve: got %d %s, want 201", resp.StatusCode, body)
	}
	var res product.Reservation
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if got := res.ExpiresAt.Sub(res.CreatedAt); got != 90*time.Second {
		t.Errorf("got a reservation TTL of %v, want SANDBOX_RESERVATION_TTL's 90s", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: got %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"defaults", map[string]string{}, false},
		{"ttls", map[string]string{"SANDBOX_RESERVATION_TTL": "1m", "SANDBOX_HOLD_TTL": "2m"}, false},
		{"bad ttl", map[string]string{"SANDBOX_HOLD_TTL": "soon"}, true},
		{"negative ttl", map[string]string{"SANDBOX_RESERVATION_TTL": "-1m"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if cfg.addrs["product"] != "127.0.0.1:8001" || cfg.addrs["notification"] != "127.0.0.1:8005" {
				t.Errorf("got addrs %v, want the defaults", cfg.addrs)
			}
		})
	}
	cfg, _ := loadConfig(func(k string) string {
		return map[string]string{"SANDBOX_RESERVATION_TTL": "1m", "SANDBOX_HOLD_TTL": "2m", "SANDBOX_USER_ADDR": ":9"}[k]
	})
	if cfg.sandbox.ReservationTTL != time.Minute || cfg.sandbox.HoldTTL != 2*time.Minute || cfg.addrs["user"] != ":9" {
		t.Errorf("got %+v, want the overrides", cfg)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := run(t.Context(), func(k string) string {
		if k == "SANDBOX_HOLD_TTL" {
			return "never"
		}
		return ""
	}, io.Discard)
	if err == nil {
		t.Error("got nil error, want the bad duration refused")
	}
}
