package servertest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/upstream/upstreamtest"
)

// UpstreamEnv points a BFF at a running sandbox, with lifecycle logs only (info).
func UpstreamEnv(rt *upstreamtest.Running) map[string]string {
	return map[string]string{
		"UPSTREAM_PRODUCT_URLS":      rt.ProductURL,
		"UPSTREAM_ORDER_URLS":        rt.OrderURL,
		"UPSTREAM_PAYMENT_URLS":      rt.PaymentURL,
		"UPSTREAM_USER_URLS":         rt.UserURL,
		"UPSTREAM_NOTIFICATION_URLS": rt.NotificationURL,
		"LOG_LEVEL":                  "info",
	}
}

// Response is a fully read HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes an RFC 9457 body, checking its media type.
func (r Response) Problem(tb testing.TB) map[string]any {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.Status, r.Body)
	}
	var p map[string]any
	r.JSON(tb, &p)
	return p
}

// Do sends one request and fails the test on a transport error; body may be
// nil, a string, []byte or a value to encode as JSON. headers are given as
// name, value pairs.
func Do(tb testing.TB, method, url string, body any, headers ...string) Response {
	tb.Helper()
	r, err := Send(method, url, body, headers...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Send is Do for goroutines other than the test's: it returns the error.
func Send(method, url string, body any, headers ...string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
