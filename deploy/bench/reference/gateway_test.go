package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// start serves the reference on port 0 in front of sb until the test ends
// and returns its base URL.
func start(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read the listening line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "bench-reference: listening on ")
	if !ok {
		t.Fatalf("first line %q does not name the address", line)
	}
	return "http://" + addr
}

func sandboxEnv(sb *sandboxtest.Running) map[string]string {
	return map[string]string{
		"REFERENCE_ADDR":        "127.0.0.1:0",
		"UPSTREAM_PRODUCT_URLS": sb.ProductURL + ", http://127.0.0.1:1",
		"UPSTREAM_ORDER_URLS":   sb.OrderURL,
		"UPSTREAM_PAYMENT_URLS": sb.PaymentURL,
	}
}

// post sends body to url and decodes the answer's id, failing unless 201.
func post(t *testing.T, url, body string) string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		t.Fatalf("POST %s: no id in %s (%v)", url, b, err)
	}
	return out.ID
}

// getJSON reads url and returns its status and decoded body (nil when the
// body is not JSON).
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if json.Unmarshal(b, &v) != nil {
		v = nil
	}
	return resp.StatusCode, v
}

func TestOrderPage(t *testing.T) {
	sb := sandboxtest.Start(t, sandbox.Config{})
	base := start(t, sandboxEnv(sb))
	payID := post(t, sb.PaymentURL+"/payments",
		`{"reference":"ref-pay","user_id":"u1","amount":{"amount":32880,"currency":"EUR"},"token":"tok_visa"}`)
	req := sandboxtest.OrderRequest("ref-order", "u1")
	req.PaymentID = payID
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	orderID := post(t, sb.OrderURL+"/orders", string(body))

	status, v := getJSON(t, base+"/orders/"+orderID)
	if status != http.StatusOK {
		t.Fatalf("GET /orders/%s = %d, want 200", orderID, status)
	}
	order, _ := v["order"].(map[string]any)
	payment, _ := v["payment"].(map[string]any)
	products, _ := v["products"].([]any)
	if order["id"] != orderID {
		t.Errorf("order.id = %v, want %s", order["id"], orderID)
	}
	if payment["id"] != payID {
		t.Errorf("payment.id = %v, want %s", payment["id"], payID)
	}
	var ids []float64
	for _, p := range products {
		ids = append(ids, p.(map[string]any)["id"].(float64))
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 9 {
		t.Errorf("product ids = %v, want [1 9] (the order's lines)", ids)
	}
	calls := sb.State(t)
	if n := calls.Product.Requests["GET /products"]; n != 1 {
		t.Errorf("GET /products called %d times, want 1 batch", n)
	}
}

func TestProductView(t *testing.T) {
	sb := sandboxtest.Start(t, sandbox.Config{})
	base := start(t, sandboxEnv(sb))
	status, v := getJSON(t, base+"/products/1")
	if status != http.StatusOK {
		t.Fatalf("GET /products/1 = %d, want 200", status)
	}
	var keys []string
	for k := range v {
		keys = append(keys, k)
	}
	for _, k := range []string{"id", "name", "price", "stock", "image"} {
		if v[k] == nil {
			t.Errorf("%s missing from %v", k, keys)
		}
	}
	if len(v) != 5 {
		t.Errorf("keys %v, want only id, name, price, stock and image", keys)
	}
	img, _ := v["image"].(map[string]any)
	if url, _ := img["url"].(string); !strings.HasSuffix(url, "/products/1/main.jpg") {
		t.Errorf("image.url = %q, want the main picture", url)
	}
}

func TestUpstreamFailureIsBadGateway(t *testing.T) {
	sb := sandboxtest.Start(t, sandbox.Config{})
	down := sandboxEnv(sb)
	down["UPSTREAM_PAYMENT_URLS"] = "http://127.0.0.1:1"
	base := start(t, down)
	tests := []struct{ name, path string }{
		{"unknown order", "/orders/ord_999999"},
		{"unknown product", "/products/9999"},
		{"not a product id", "/products/abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || !bytes.HasPrefix(b, []byte("bad gateway: ")) {
				t.Errorf("GET %s = %d %q, want 502 bad gateway: ...", tt.path, resp.StatusCode, b)
			}
		})
	}

	t.Run("payment service down", func(t *testing.T) {
		payID := "pay_000001"
		req := sandboxtest.OrderRequest("ref-down", "u1")
		req.PaymentID = payID
		body, _ := json.Marshal(req)
		orderID := post(t, sb.OrderURL+"/orders", string(body))
		if status, _ := getJSON(t, base+"/orders/"+orderID); status != http.StatusBadGateway {
			t.Errorf("GET /orders/%s with the payment service down = %d, want 502", orderID, status)
		}
	})
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want config
	}{
		{"defaults", nil, config{Addr: "127.0.0.1:8099", ProductURL: "http://127.0.0.1:8001",
			OrderURL: "http://127.0.0.1:8002", PaymentURL: "http://127.0.0.1:8003"}},
		{"the first of each instance list", map[string]string{
			"REFERENCE_ADDR": ":9000", "UPSTREAM_PRODUCT_URLS": " http://p:1/ , http://p:2",
			"UPSTREAM_ORDER_URLS": "http://o:1", "UPSTREAM_PAYMENT_URLS": "http://y:1,http://y:2",
		}, config{Addr: ":9000", ProductURL: "http://p:1", OrderURL: "http://o:1", PaymentURL: "http://y:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadConfig(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("loadConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}
