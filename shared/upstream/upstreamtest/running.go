package upstreamtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	json "github.com/goccy/go-json"
)

// Running is a Sandbox served on loopback ports for the length of a test.
type Running struct {
	Sandbox *Sandbox
	// The services' base URLs, "http://127.0.0.1:PORT".
	ProductURL, OrderURL, PaymentURL, UserURL, NotificationURL string

	client *http.Client
}

// Start serves the five services on 127.0.0.1:0 (httptest servers) and
// closes them in tb.Cleanup.
func Start(tb testing.TB, cfg Config) *Running {
	tb.Helper()
	sb := New(cfg)
	urls := make(map[string]string, len(Services))
	for _, name := range Services {
		srv := httptest.NewServer(sb.Handler(name))
		tb.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	return &Running{
		Sandbox:         sb,
		ProductURL:      urls[ServiceProduct],
		OrderURL:        urls[ServiceOrder],
		PaymentURL:      urls[ServicePayment],
		UserURL:         urls[ServiceUser],
		NotificationURL: urls[ServiceNotification],
		client:          &http.Client{},
	}
}

// URL returns the base URL of the named service, or "" for an unknown name.
func (r *Running) URL(service string) string {
	switch service {
	case ServiceProduct:
		return r.ProductURL
	case ServiceOrder:
		return r.OrderURL
	case ServicePayment:
		return r.PaymentURL
	case ServiceUser:
		return r.UserURL
	case ServiceNotification:
		return r.NotificationURL
	}
	return ""
}

// FetchState reads GET /__admin/state of all five services over HTTP, as a
// black-box test would.
func (r *Running) FetchState(ctx context.Context) (State, error) {
	var st State
	targets := []struct {
		service string
		into    any
	}{
		{ServiceProduct, &st.Product},
		{ServiceOrder, &st.Order},
		{ServicePayment, &st.Payment},
		{ServiceUser, &st.User},
		{ServiceNotification, &st.Notification},
	}
	for _, t := range targets {
		if err := r.admin(ctx, t.service, http.MethodGet, "/__admin/state", nil, http.StatusOK, t.into); err != nil {
			return State{}, fmt.Errorf("fetch state: %w", err)
		}
	}
	return st, nil
}

// InjectFault adds f to the named service over HTTP.
func (r *Running) InjectFault(ctx context.Context, service string, f Fault) error {
	if err := r.admin(ctx, service, http.MethodPost, "/__admin/faults", f, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("inject fault: %w", err)
	}
	return nil
}

// ClearFaults removes every fault of every service over HTTP.
func (r *Running) ClearFaults(ctx context.Context) error {
	for _, name := range Services {
		if err := r.admin(ctx, name, http.MethodDelete, "/__admin/faults", nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("clear faults: %w", err)
		}
	}
	return nil
}

// Reset restores every service's seed over HTTP, clearing faults and
// counters.
func (r *Running) Reset(ctx context.Context) error {
	for _, name := range Services {
		if err := r.admin(ctx, name, http.MethodPost, "/__admin/reset", nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	return nil
}

// SetStock sets a product's stock over HTTP (see Sandbox.SetStock).
func (r *Running) SetStock(ctx context.Context, productID int64, n int) error {
	path := fmt.Sprintf("/__admin/products/%d/stock", productID)
	if err := r.admin(ctx, ServiceProduct, http.MethodPut, path, map[string]int{"stock": n}, http.StatusOK, nil); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	return nil
}

// admin sends one admin request and decodes the answer into out, if given.
func (r *Running) admin(ctx context.Context, service, method, path string, in any, want int, out any) error {
	base := r.URL(service)
	if base == "" {
		return fmt.Errorf("unknown service %q", service)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s %s: read body: %w", service, method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s %s: status %d: %s", service, method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s %s: decode: %w", service, method, path, err)
		}
	}
	return nil
}
