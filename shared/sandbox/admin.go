package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"

	json "github.com/goccy/go-json"
)

// Admin is a client of the services' admin routes (/__admin/...): it reads
// state, injects and clears faults, resets and sets stock over HTTP, as a
// black-box test or a tool driving the sandbox command would. It is safe
// for concurrent use.
type Admin struct {
	urls   map[string]string
	client *http.Client
}

// NewAdmin returns an Admin of the services at urls, which maps a name in
// Services to its base URL ("http://127.0.0.1:8001"); a service left out
// cannot be reached through it. A nil client means http.DefaultClient.
func NewAdmin(urls map[string]string, client *http.Client) *Admin {
	if client == nil {
		client = http.DefaultClient
	}
	return &Admin{urls: maps.Clone(urls), client: client}
}

// URL returns the base URL of the named service, or "" for a service the
// Admin does not know.
func (a *Admin) URL(service string) string { return a.urls[service] }

// FetchState reads GET /__admin/state of all five services.
func (a *Admin) FetchState(ctx context.Context) (State, error) {
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
		if err := a.do(ctx, t.service, http.MethodGet, "/__admin/state", nil, http.StatusOK, t.into); err != nil {
			return State{}, fmt.Errorf("fetch state: %w", err)
		}
	}
	return st, nil
}

// Requests reads one service's request counters, by route pattern ("GET
// /products/{id}"), from its GET /__admin/state without decoding the rest,
// which grows with every order placed.
func (a *Admin) Requests(ctx context.Context, service string) (map[string]int, error) {
	var st struct {
		Requests map[string]int `json:"requests"`
	}
	if err := a.do(ctx, service, http.MethodGet, "/__admin/state", nil, http.StatusOK, &st); err != nil {
		return nil, fmt.Errorf("request counters: %w", err)
	}
	return st.Requests, nil
}

// InjectFault adds f to the named service.
func (a *Admin) InjectFault(ctx context.Context, service string, f Fault) error {
	if err := a.do(ctx, service, http.MethodPost, "/__admin/faults", f, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("inject fault: %w", err)
	}
	return nil
}

// ClearFaults removes every fault of every service.
func (a *Admin) ClearFaults(ctx context.Context) error {
	for _, name := range Services {
		if err := a.do(ctx, name, http.MethodDelete, "/__admin/faults", nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("clear faults: %w", err)
		}
	}
	return nil
}

// Reset restores every service's seed, clearing faults and counters (see
// Sandbox.Reset).
func (a *Admin) Reset(ctx context.Context) error {
	for _, name := range Services {
		if err := a.do(ctx, name, http.MethodPost, "/__admin/reset", nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	return nil
}

// SetStock sets a product's stock (see Sandbox.SetStock).
func (a *Admin) SetStock(ctx context.Context, productID int64, n int) error {
	path := fmt.Sprintf("/__admin/products/%d/stock", productID)
	if err := a.do(ctx, ServiceProduct, http.MethodPut, path, map[string]int{"stock": n}, http.StatusOK, nil); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	return nil
}

// do sends one admin request with in as its JSON body (nil for none) and
// decodes the answer into out, if given, failing on any status but want.
func (a *Admin) do(ctx context.Context, service, method, path string, in any, want int, out any) error {
	base := a.URL(service)
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
	resp, err := a.client.Do(req)
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
