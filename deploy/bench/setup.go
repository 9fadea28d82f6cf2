package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox"
)

// admin speaks to the sandbox's admin routes and the BFFs' login and
// order routes while the benchmark prepares and reads counters; none of it
// is measured.
type admin struct {
	client  *http.Client
	sandbox *sandbox.Admin
}

// newAdmin returns an admin of the sandbox whose services listen on
// sandboxAddrs, "127.0.0.1:PORT" by service name.
func newAdmin(sandboxAddrs map[string]string) *admin {
	client := &http.Client{Timeout: 10 * time.Second}
	urls := make(map[string]string, len(sandboxAddrs))
	for name, addr := range sandboxAddrs {
		urls[name] = "http://" + addr
	}
	return &admin{client: client, sandbox: sandbox.NewAdmin(urls, client)}
}

// call sends a JSON body (nil for none) and decodes a JSON answer into out
// (nil to discard), failing on any status but want.
func (a *admin) call(ctx context.Context, method, url string, body any, header map[string]string, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: got %d %s, want %d", method, url, resp.StatusCode, clip(b, 300), want)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, url, err)
	}
	return nil
}

// counts are the sandbox's request counters, keyed "service route", e.g.
// "product GET /products/{id}".
type counts map[string]int

func (c counts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// sub returns the counters that grew since before, and by how much.
func (c counts) sub(before counts) counts {
	d := counts{}
	for k, v := range c {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// counts reads every service's per-route request counters from GET
// /__admin/state.
func (a *admin) counts(ctx context.Context) (counts, error) {
	c := counts{}
	for _, name := range sandbox.Services {
		requests, err := a.sandbox.Requests(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("upstream counters: %w", err)
		}
		for route, n := range requests {
			c[name+" "+route] = n
		}
	}
	return c, nil
}

// quietCounts reads the counters until two reads poll apart agree, so that
// work a BFF does after answering (the order confirmation's notification)
// is charged to the endpoint that caused it. It gives up waiting after
// patience and returns the last read.
func (a *admin) quietCounts(ctx context.Context, poll, patience time.Duration) (counts, error) {
	last, err := a.counts(ctx)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(poll):
		}
		c, err := a.counts(ctx)
		if err != nil {
			return nil, err
		}
		if maps.Equal(c, last) {
			return c, nil
		}
		last = c
	}
	return last, nil
}

// fixtures is what the measured requests need: a token and an order of
// the token's user.
type fixtures struct {
	Token   string
	OrderID string
}

const (
	benchEmail    = "ada@example.com"
	benchPassword = "correct-horse"
	// benchStock is the stock given to the ordered product so that POST
	// /v1/orders never runs out, the sandbox's largest allowed.
	benchStock = 1_000_000
)

// orderBody is the body of every measured order: one unit of the product.
func orderBody(productID int64) []byte {
	return fmt.Appendf(nil, `{"items":[{"product_id":%d,"quantity":1}],"payment_token":"tok_visa"}`, productID)
}

// prepare logs in through bff-mobile, raises the stock of productID, and
// places one order for GET /api/orders/{id} to read.
func (a *admin) prepare(ctx context.Context, st *stack, productID int64, keyPrefix string) (fixtures, error) {
	var fx fixtures
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	login := map[string]string{"email": benchEmail, "password": benchPassword}
	if err := a.call(ctx, http.MethodPost, "http://"+st.BFFs["bff-mobile"].Addr+"/v1/auth/token", login, nil, http.StatusOK, &tok); err != nil {
		return fx, fmt.Errorf("log in: %w", err)
	}
	fx.Token = tok.AccessToken

	if err := a.sandbox.SetStock(ctx, productID, benchStock); err != nil {
		return fx, fmt.Errorf("raise stock: %w", err)
	}

	var placed struct {
		ID string `json:"id"`
	}
	header := map[string]string{"Authorization": "Bearer " + fx.Token, "Idempotency-Key": keyPrefix + "setup"}
	body := json.RawMessage(orderBody(productID))
	if err := a.call(ctx, http.MethodPost, "http://"+st.BFFs["bff-mobile"].Addr+"/v1/orders", body, header, http.StatusCreated, &placed); err != nil {
		return fx, fmt.Errorf("place the order to read: %w", err)
	}
	if placed.ID == "" {
		return fx, fmt.Errorf("place the order to read: the answer has no id")
	}
	fx.OrderID = placed.ID
	return fx, nil
}
