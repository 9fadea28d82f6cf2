package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The transport benchmarks compare the two candidate HTTP clients on the same
// local net/http server (the kind of server the sandbox runs), so the figures
// differ only by the client. Run with:
//
//	go test -run '^$' -bench Transport -benchmem ./upstream/

// benchProduct is a small product document, the size of a typical GET answer.
const benchProduct = `{"id":7,"sku":"KIT-0007","name":"Cast iron skillet","category":"kitchen",` +
	`"price":{"amount":3499,"currency":"EUR"},"stock":42,"rating":4.6,` +
	`"images":[{"url":"https://img.storefront.dev/products/7/main.jpg","kind":"main","width":800,"height":800}]}`

// benchReservation is a ~300-byte reservation request body.
var benchReservation = []byte(`{"reference":"ord_01HZX4Q9R5T7V8W2Y3Z4A5B6C7-res","items":[` +
	`{"product_id":1,"quantity":2},{"product_id":7,"quantity":1},{"product_id":12,"quantity":3},` +
	`{"product_id":19,"quantity":1},{"product_id":23,"quantity":4},{"product_id":31,"quantity":2},` +
	`{"product_id":38,"quantity":1},{"product_id":40,"quantity":5}],"ttl_seconds":600,"note":"bench"}`)

// benchCreated is the answer to a reservation request.
const benchCreated = `{"id":"res_1","status":"active"}`

func newBenchServer(b *testing.B) *httptest.Server {
	b.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchProduct)
	})
	mux.HandleFunc("POST /reservations", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n != int64(len(benchReservation)) {
			http.Error(w, "short body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, benchCreated)
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// benchNetHTTPClient is the tuned net/http candidate: keep-alive pool sized
// for the parallelism, HTTP/1.1 only, no compression negotiation.
func benchNetHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
}

// benchCall is one of the requests the two clients are compared on.
type benchCall struct {
	name   string
	method string
	path   string
	body   []byte // sent as JSON when not nil
	status int    // of the answer
	answer string // the answer's body, whose length is checked
}

var benchCalls = []benchCall{
	{name: "get", method: http.MethodGet, path: "/products/7", status: http.StatusOK, answer: benchProduct},
	{name: "post", method: http.MethodPost, path: "/reservations", body: benchReservation, status: http.StatusCreated, answer: benchCreated},
}

func BenchmarkTransport(b *testing.B) {
	srv := newBenchServer(b)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, bc := range benchCalls {
		b.Run("fasthttp/"+bc.name, func(b *testing.B) {
			hc := &fasthttp.HostClient{Addr: host, MaxConns: 256, MaxIdemponentCallAttempts: 1}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					req.SetRequestURI(srv.URL + bc.path)
					req.Header.SetMethod(bc.method)
					if bc.body != nil {
						req.Header.SetContentType("application/json")
						req.SetBody(bc.body)
					}
					req.Header.Set("Accept", "application/json")
					err := hc.DoTimeout(req, resp, 2*time.Second)
					if err != nil || resp.StatusCode() != bc.status || len(resp.Body()) != len(bc.answer) {
						b.Errorf("got err %v, status %d", err, resp.StatusCode())
					}
					fasthttp.ReleaseRequest(req)
					fasthttp.ReleaseResponse(resp)
				}
			})
		})
	}
	for _, bc := range benchCalls {
		b.Run("nethttp/"+bc.name, func(b *testing.B) {
			c := benchNetHTTPClient()
			b.Cleanup(c.CloseIdleConnections)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var buf bytes.Buffer
				for pb.Next() {
					var body io.Reader
					if bc.body != nil {
						body = bytes.NewReader(bc.body)
					}
					req, _ := http.NewRequest(bc.method, srv.URL+bc.path, body)
					if bc.body != nil {
						req.Header.Set("Content-Type", "application/json")
					}
					req.Header.Set("Accept", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						b.Errorf("got err %v", err)
						continue
					}
					buf.Reset()
					_, err = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != bc.status || buf.Len() != len(bc.answer) {
						b.Errorf("got err %v, status %d", err, resp.StatusCode)
					}
				}
			})
		})
	}
}

// BenchmarkServiceDo measures the chosen transport as callers use it:
// breaker, balancing, JSON encoding and decoding included.
func BenchmarkServiceDo(b *testing.B) {
	srv := newBenchServer(b)
	s, err := NewService("product", []string{srv.URL}, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	type product struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Stock int    `json:"stock"`
	}
	type line struct {
		ProductID int64 `json:"product_id"`
		Quantity  int   `json:"quantity"`
	}
	body := struct {
		Reference  string `json:"reference"`
		Items      []line `json:"items"`
		TTLSeconds int    `json:"ttl_seconds"`
		Note       string `json:"note"`
	}{
		Reference:  "ord_01HZX4Q9R5T7V8W2Y3Z4A5B6C7-res",
		Items:      []line{{1, 2}, {7, 1}, {12, 3}, {19, 1}, {23, 4}, {31, 2}, {38, 1}, {40, 5}},
		TTLSeconds: 600,
		Note:       "bench",
	}
	ctx := context.Background()
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var p product
				if err := s.Do(ctx, Call{Op: "get", Method: http.MethodGet, Path: "/products/7"}, &p); err != nil || p.ID != 7 {
					b.Errorf("got %+v, %v", p, err)
				}
			}
		})
	})
	b.Run("post", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var res struct {
					ID string `json:"id"`
				}
				if err := s.Do(ctx, Call{Op: "reserve", Method: http.MethodPost, Path: "/reservations", Body: body}, &res); err != nil || res.ID != "res_1" {
					b.Errorf("got %+v, %v", res, err)
				}
			}
		})
	})
}
