package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
)

// TestCheckoutLatencyAgainstTheSandbox makes the chains against the real
// sandbox, with a stand-in bff-mobile that places nothing: every write
// must be accepted, take at least the injected latency, and leave a
// confirmed order; every checkout must carry its own key; and no latency
// may be left injected afterwards.
func TestCheckoutLatencyAgainstTheSandbox(t *testing.T) {
	sb := sandboxtest.Start(t, sandbox.Config{})
	addrs := map[string]string{}
	for _, name := range sandbox.Services {
		addrs[name] = strings.TrimPrefix(sb.URL(name), "http://")
	}
	var (
		mu   sync.Mutex
		keys = map[string]int{}
	)
	mobile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/orders" || r.Header.Get("Authorization") != "Bearer tok" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		keys[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer mobile.Close()
	st := &stack{Sandbox: addrs, BFFs: map[string]*bffProcess{"bff-mobile": {Addr: strings.TrimPrefix(mobile.URL, "http://")}}}
	cfg := defaultConfig()
	cfg.Checkouts = 5
	// Fewer units than the run needs: it must raise the stock itself.
	sb.Stock(t, cfg.ProductID, 3)

	c, err := newAdmin(addrs).measureCheckoutLatency(context.Background(), st, fixtures{Token: "tok"}, cfg, "t-")
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped != "" {
		t.Fatalf("skipped: %s", c.Skipped)
	}
	for i, r := range c.rows() {
		if r.Result.Requests != uint64(cfg.Checkouts) || r.Result.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (first: %s), want %d and none",
				r.Name, r.Result.Requests, r.Result.Errors, r.Result.FirstError, cfg.Checkouts)
		}
		if i < len(c.Writes) && r.Result.Latency.min < writeLatency {
			t.Errorf("%s: fastest %v, want at least the injected %v", r.Name, r.Result.Latency.min, writeLatency)
		}
	}
	if want := cfg.Checkouts + checkoutWarmup + 1; len(keys) != want {
		t.Errorf("%d distinct Idempotency-Keys, want one for each of the %d checkouts", len(keys), want)
	}

	state := sb.CheckInvariants(t)
	confirmed := 0
	for _, o := range state.Order.Orders {
		if o.Status == order.StatusConfirmed {
			confirmed++
		}
	}
	if want := cfg.Checkouts + checkoutWarmup; confirmed != want {
		t.Errorf("%d confirmed orders, want one for each of the %d chains", confirmed, want)
	}
	for _, name := range sandbox.Services {
		resp, err := http.Get(sb.URL(name) + "/__admin/faults")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.TrimSpace(string(b)); got != "[]" {
			t.Errorf("%s: faults left after the run: %s", name, got)
		}
	}

}

func TestCheckoutLatencySkipsAMissingRoute(t *testing.T) {
	sb := sandboxtest.Start(t, sandbox.Config{})
	addrs := map[string]string{}
	for _, name := range sandbox.Services {
		addrs[name] = strings.TrimPrefix(sb.URL(name), "http://")
	}
	mobile := httptest.NewServer(http.NotFoundHandler())
	defer mobile.Close()
	st := &stack{Sandbox: addrs, BFFs: map[string]*bffProcess{"bff-mobile": {Addr: strings.TrimPrefix(mobile.URL, "http://")}}}
	c, err := newAdmin(addrs).measureCheckoutLatency(context.Background(), st, fixtures{Token: "tok"}, defaultConfig(), "t-")
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped == "" {
		t.Errorf("a bff-mobile without POST /v1/orders was measured, want skipped")
	}
	if err := verdict(c.rows(), true); err == nil {
		t.Errorf("verdict in CI of a skipped checkout latency = nil, want an error")
	}
}
