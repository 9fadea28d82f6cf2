package servertest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox/sandboxtest"
)

// UpstreamEnv points a BFF at a running sandbox, with lifecycle logs only (info).
func UpstreamEnv(rt *sandboxtest.Running) map[string]string {
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

// CheckRateLimited checks a refusal of policy: a 429 rate_limited problem,
// Retry-After within (perRequest-elapsed, perRequest] seconds, and the
// RateLimit field with nothing remaining and its reset within
// (window-elapsed, window]; elapsed bounds the time the test has taken
// since it began spending the quota.
func (r Response) CheckRateLimited(tb testing.TB, policy string, perRequest, window, elapsed time.Duration) {
	tb.Helper()
	if r.Status != 429 {
		tb.Fatalf("got status %d, want 429; body %s", r.Status, r.Body)
	}
	if p := r.Problem(tb); p["code"] != "rate_limited" {
		tb.Errorf("got problem %v, want rate_limited", p)
	}
	within := func(name, got string, full time.Duration) {
		tb.Helper()
		n, err := strconv.Atoi(got)
		lo := int((full - elapsed) / time.Second)
		if err != nil || n < lo || n > int(full/time.Second) {
			tb.Errorf("got %s %q, want %d..%d", name, got, lo, int(full/time.Second))
		}
	}
	within("Retry-After", r.Header.Get("Retry-After"), perRequest)
	rl := r.Header.Get("RateLimit")
	prefix := fmt.Sprintf("%q;r=0;t=", policy)
	if !strings.HasPrefix(rl, prefix) {
		tb.Fatalf("got RateLimit %q, want %s...", rl, prefix)
	}
	within("RateLimit t", strings.TrimPrefix(rl, prefix), window)
}

// Checker judges one exchange against a published contract: it returns an
// error when the response, or a request the server accepted, is not what the
// contract describes. Package contract implements it for OpenAPI documents.
type Checker interface {
	Check(req *http.Request, status int, header http.Header, body []byte) error
}

// ErrContract marks the errors of Send that come from the registered
// Checker rather than from the transport.
var ErrContract = errors.New("contract violated")

var checker atomic.Pointer[Checker]

// underTest holds the origins of the servers Start runs: only their
// exchanges are checked, not those with a sandbox service or another BFF
// a test calls for comparison.
var underTest sync.Map

// origin is the scheme and host of a URL, "" when it has none.
func origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// SetContract makes every later Do and Send to a server started by Start
// check its exchange with c, so a response that drifts from the published
// contract fails the test that received it; nil stops checking. A BFF's
// TestMain sets it once for the whole test binary.
func SetContract(c Checker) {
	if c == nil {
		checker.Store(nil)
		return
	}
	checker.Store(&c)
}

// Do sends one request and fails the test on a transport error; body may be
// nil, a string, []byte or a value to encode as JSON. headers are given as
// name, value pairs. A contract violation (see SetContract) is reported as a
// test error and the response is still returned, so the test's own checks
// run too.
func Do(tb testing.TB, method, url string, body any, headers ...string) Response {
	tb.Helper()
	r, err := Send(method, url, body, headers...)
	return judged(tb, r, err)
}

// judged is Do's verdict on an exchange: a contract violation is a test
// error, any other error fails the test.
func judged(tb testing.TB, r Response, err error) Response {
	tb.Helper()
	if errors.Is(err, ErrContract) {
		tb.Error(err)
		return r
	}
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Send is Do for goroutines other than the test's: it returns the error. A
// contract violation is returned as an error wrapping ErrContract, together
// with the response.
func Send(method, url string, body any, headers ...string) (Response, error) {
	req, raw, err := newRequest(method, url, body)
	if err != nil {
		return Response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return exchange(req, raw)
}

// DoLines is Do with the headers given as lines: a name with several values
// is sent as that many header lines, which Do's name, value pairs cannot
// express (a later pair replaces an earlier one).
func DoLines(tb testing.TB, method, url string, body any, lines http.Header) Response {
	tb.Helper()
	req, raw, err := newRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	for name, values := range lines {
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	r, err := exchange(req, raw)
	return judged(tb, r, err)
}

// Raw writes request to a new connection to base, byte for byte, and reads
// one answer: for what no HTTP client sends (a control character in a
// header, a broken request line). Such a request matches no operation, so
// the answer is not checked against the contract. The request is written
// while the answer is read: the server may answer, and close, before it has
// read it all.
func Raw(tb testing.TB, base, request string) Response {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = io.WriteString(conn, request) }()
	// A bound on the test, not a timing assertion.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("read the answer to %q: %v", request, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read the answer to %q: %v", request, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// newRequest builds a request with body, nil, a string, []byte or a value
// to encode as JSON (then sent as application/json), and returns the bytes
// sent.
func newRequest(method, url string, body any) (*http.Request, []byte, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, nil, err
		}
		raw = enc
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, raw, nil
}

// exchange sends req, whose body is raw, reads the answer and checks the
// exchange against the contract set by SetContract.
func exchange(req *http.Request, raw []byte) (Response, error) {
	method, url := req.Method, req.URL.String()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if c := checker.Load(); c != nil && isUnderTest(req.URL) {
		// The request as sent, with a fresh body: the checker may read it.
		sent := req.Clone(req.Context())
		sent.Body = io.NopCloser(bytes.NewReader(raw))
		if err := (*c).Check(sent, r.Status, r.Header, r.Body); err != nil {
			return r, fmt.Errorf("%w: %s %s: %w", ErrContract, method, url, err)
		}
	}
	return r, nil
}

func isUnderTest(u *url.URL) bool {
	_, ok := underTest.Load(u.Scheme + "://" + u.Host)
	return ok
}
