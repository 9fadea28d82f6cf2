package upstream_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/upstreamtest"
)

// newServer serves h on 127.0.0.1:0 and returns its URL.
func newServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newCountingServer is newServer that also counts the requests h receives.
func newCountingServer(t *testing.T, h http.HandlerFunc) (string, *atomic.Int32) {
	t.Helper()
	hits := new(atomic.Int32)
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}), hits
}

// slowServer returns the URL of a server that answers {} after d.
func slowServer(t *testing.T, d time.Duration) string {
	t.Helper()
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
}

// closedURL returns the URL of a listener that was closed: dialing it is
// refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func newService(t *testing.T, urls []string, opts ...upstream.Option) *upstream.Service {
	t.Helper()
	return newServiceWith(t, urls, upstream.DefaultConfig(), opts...)
}

// newServiceWith is newService with the settings cfg.
func newServiceWith(t *testing.T, urls []string, cfg upstream.Config, opts ...upstream.Option) *upstream.Service {
	t.Helper()
	return upstreamtest.Service(t, "product", urls, cfg, opts...)
}

// settings returns the default settings changed by edit, if any.
func settings(edit func(*upstream.Config)) upstream.Config {
	c := upstream.DefaultConfig()
	if edit != nil {
		edit(&c)
	}
	return c
}

var asError = upstreamtest.AsError

func TestDoMapsStatuses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantKind    upstream.Kind
		wantCode    string
		wantReason  string
		wantLines   []upstream.UnavailableLine
		wantDetail  string
		wantTransit bool
	}{
		{name: "not found", status: 404, body: `{"code":"not_found","detail":"no product 9"}`, wantKind: upstream.KindNotFound, wantCode: "not_found", wantDetail: "no product 9"},
		{name: "out of stock", status: 409, body: `{"code":"out_of_stock","unavailable":[{"product_id":3,"requested":5,"available":2}]}`, wantKind: upstream.KindOutOfStock, wantCode: "out_of_stock", wantLines: []upstream.UnavailableLine{{ProductID: 3, Requested: 5, Available: 2}}},
		{name: "other conflict", status: 409, body: `{"code":"payment_voided"}`, wantKind: upstream.KindConflict, wantCode: "payment_voided"},
		{name: "declined", status: 402, body: `{"code":"payment_declined","decline_reason":"insufficient_funds"}`, wantKind: upstream.KindDeclined, wantCode: "payment_declined", wantReason: "insufficient_funds"},
		{name: "bad request", status: 400, body: `{"code":"invalid_request"}`, wantKind: upstream.KindInvalid, wantCode: "invalid_request"},
		{name: "unprocessable", status: 422, body: `{"code":"total_mismatch"}`, wantKind: upstream.KindInvalid, wantCode: "total_mismatch"},
		{name: "unauthorized", status: 401, body: `{"code":"invalid_credentials"}`, wantKind: upstream.KindUnauthorized, wantCode: "invalid_credentials"},
		{name: "forbidden", status: 403, body: `{}`, wantKind: upstream.KindUnauthorized},
		{name: "too many requests", status: 429, body: `{}`, wantKind: upstream.KindUnavailable, wantTransit: true},
		{name: "unavailable", status: 503, body: `{"code":"unavailable"}`, wantKind: upstream.KindUnavailable, wantCode: "unavailable", wantTransit: true},
		{name: "server error", status: 500, body: `{"code":"internal"}`, wantKind: upstream.KindServer, wantCode: "internal", wantTransit: true},
		{name: "bad gateway without problem body", status: 502, body: `<html>secret stack trace</html>`, wantKind: upstream.KindServer, wantTransit: true},
		{name: "teapot", status: 418, body: `not json: secret`, wantKind: upstream.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.Retries = 0 }))
			err := s.Do(context.Background(), upstream.Call{Op: "reserve", Method: http.MethodPost, Path: "/reservations"}, nil)
			e := asError(t, err)
			if e.Kind != tt.wantKind || e.Code != tt.wantCode || e.DeclineReason != tt.wantReason || e.Detail != tt.wantDetail {
				t.Errorf("got kind %s code %q reason %q detail %q, want %s %q %q %q", e.Kind, e.Code, e.DeclineReason, e.Detail, tt.wantKind, tt.wantCode, tt.wantReason, tt.wantDetail)
			}
			if !reflect.DeepEqual(e.Unavailable, tt.wantLines) {
				t.Errorf("got unavailable %+v, want %+v", e.Unavailable, tt.wantLines)
			}
			if e.Service != "product" || e.Op != "reserve" || e.Status != tt.status {
				t.Errorf("got service %q op %q status %d, want product reserve %d", e.Service, e.Op, e.Status, tt.status)
			}
			if e.NotSent {
				t.Errorf("got NotSent, want false: the service answered")
			}
			if got := e.Transient(); got != tt.wantTransit {
				t.Errorf("got Transient() %v, want %v", got, tt.wantTransit)
			}
			if strings.Contains(e.Error(), "secret") {
				t.Errorf("got error %q, want no trace of the raw body", e.Error())
			}
		})
	}
}

func TestDoSendsRequestAndDecodes(t *testing.T) {
	type seen struct {
		method, uri, contentType, accept, key, trace, body string
	}
	got := make(chan seen, 1)
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Get("Content-Type"), r.Header.Get("Accept"),
			r.Header.Get("Idempotency-Key"), r.Header.Get("Traceparent"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"res_1","status":"active"}`)
	})
	type traceKey struct{}
	s := newService(t, []string{u + "/product-svc/"}, upstream.WithHeaders(func(ctx context.Context, set func(k, v string)) {
		if v, ok := ctx.Value(traceKey{}).(string); ok {
			set("traceparent", v)
		}
	}))
	ctx := context.WithValue(context.Background(), traceKey{}, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	err := s.Do(ctx, upstream.Call{
		Op:             "reserve",
		Method:         http.MethodPost,
		Path:           "/reservations/" + url.PathEscape("a/b c"),
		Query:          url.Values{"ids": {"1,2"}},
		Body:           map[string]any{"reference": "r1"},
		IdempotencyKey: "key-1",
	}, &out)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if out.ID != "res_1" || out.Status != "active" {
		t.Errorf("got out %+v, want id res_1 status active", out)
	}
	want := seen{
		method: "POST", uri: "/product-svc/reservations/a%2Fb%20c?ids=1%2C2", contentType: "application/json",
		accept: "application/json", key: "key-1", trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		body: `{"reference":"r1"}`,
	}
	if g := <-got; g != want {
		t.Errorf("got request %+v, want %+v", g, want)
	}
}

func TestDoSuccessBodies(t *testing.T) {
	tests := []struct {
		name     string
		status   int // 200 when zero
		optional bool
		body     string
		out      any
		wantKind upstream.Kind
		wantErr  bool
	}{
		{name: "nil out discards", body: `{"id":1}`, out: nil},
		// Said to carry nothing, to a caller that can do without it.
		{name: "204 without a body, answer optional", status: 204, optional: true, body: ``, out: &map[string]any{}},
		{name: "202 without a body, answer optional", status: 202, optional: true, body: ``, out: &struct{ ID int }{}},
		{name: "201 without a body, answer optional", status: 201, optional: true, body: ``, out: &struct{ ID int }{}, wantErr: true, wantKind: upstream.KindUnknown},
		{name: "204 without a body", status: 204, body: ``, out: &struct{ ID int }{}, wantErr: true, wantKind: upstream.KindUnknown},
		// A success without the value asked for is no value to serve.
		{name: "empty body", body: ``, out: &map[string]any{}, wantErr: true, wantKind: upstream.KindUnknown},
		{name: "blank body", body: " \n", out: &map[string]any{}, wantErr: true, wantKind: upstream.KindUnknown},
		{name: "null body", body: `null`, out: &map[string]any{}, wantErr: true, wantKind: upstream.KindUnknown},
		{name: "null body of a struct", body: ` null `, out: &struct{ ID int }{}, wantErr: true, wantKind: upstream.KindUnknown},
		{name: "empty body, no value wanted", body: ``, out: &struct{}{}},
		{name: "a value, no value wanted", body: `{"revoked":true}`, out: &struct{}{}},
		{name: "undecodable body", body: `{"id":`, out: &map[string]any{}, wantErr: true, wantKind: upstream.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				io.WriteString(w, tt.body)
			})
			s := newService(t, []string{u})
			err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x", AnswerOptional: tt.optional}, tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if e := asError(t, err); e.Kind != tt.wantKind || e.Status != cmp.Or(tt.status, 200) {
					t.Errorf("got kind %s status %d, want %s %d", e.Kind, e.Status, tt.wantKind, cmp.Or(tt.status, 200))
				}
			}
		})
	}
}

func TestDoBodyEncodeError(t *testing.T) {
	u, hits := newCountingServer(t, func(http.ResponseWriter, *http.Request) {})
	s := newService(t, []string{u})
	err := s.Do(context.Background(), upstream.Call{Op: "send", Method: http.MethodPost, Path: "/x", Body: make(chan int)}, nil)
	e := asError(t, err)
	if e.Kind != upstream.KindInvalid || !e.NotSent {
		t.Errorf("got kind %s NotSent %v, want invalid and not sent", e.Kind, e.NotSent)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

// blockingServer answers nothing until the client goes away or the test ends.
func blockingServer(t *testing.T) string {
	release := make(chan struct{})
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return u
}

func TestDoTimeout(t *testing.T) {
	tests := []struct {
		name       string
		ctxTimeout time.Duration
		cfg        func(*upstream.Config)
	}{
		{name: "context deadline", ctxTimeout: 100 * time.Millisecond},
		{name: "timeout cap without context deadline", cfg: func(c *upstream.Config) { c.Timeout = 100 * time.Millisecond }},
		{name: "cap sooner than context deadline", ctxTimeout: time.Minute, cfg: func(c *upstream.Config) { c.Timeout = 100 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServiceWith(t, []string{blockingServer(t)}, settings(tt.cfg))
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			err := s.Do(ctx, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/slow"}, nil)
			e := asError(t, err)
			if e.Kind != upstream.KindTimeout || e.NotSent || !e.Ambiguous() || e.Status != 0 {
				t.Errorf("got kind %s NotSent %v Ambiguous %v status %d, want an ambiguous timeout", e.Kind, e.NotSent, e.Ambiguous(), e.Status)
			}
		})
	}
}

func TestDoDoneContextSendsNothing(t *testing.T) {
	u, hits := newCountingServer(t, func(http.ResponseWriter, *http.Request) {})
	s := newService(t, []string{u})
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, ctx := range []context.Context{expired, cancelled} {
		e := asError(t, s.Do(ctx, upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}, nil))
		if e.Kind != upstream.KindTimeout || !e.NotSent || !errors.Is(e, ctx.Err()) {
			t.Errorf("got kind %s NotSent %v err %v, want a timeout not sent wrapping %v", e.Kind, e.NotSent, e.Err, ctx.Err())
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

func TestDoDroppedConnectionIsAmbiguous(t *testing.T) {
	u, hits := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	s := newService(t, []string{u})
	e := asError(t, s.Do(context.Background(), upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x", IdempotencyKey: "k"}, nil))
	if e.Kind != upstream.KindServer || e.NotSent || !e.Ambiguous() || e.Status != 0 {
		t.Errorf("got kind %s NotSent %v Ambiguous %v status %d, want server, sent, ambiguous, 0", e.Kind, e.NotSent, e.Ambiguous(), e.Status)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("got %d requests, want 1: writes are not retried", n)
	}
}

// scriptedServer answers the statuses in order, then 200 {} forever, and
// counts requests.
func scriptedServer(t *testing.T, statuses ...int) (string, *atomic.Int32) {
	var hits atomic.Int32
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Add(1))
		status := http.StatusOK
		if n <= len(statuses) {
			status = statuses[n-1]
		}
		w.WriteHeader(status)
		io.WriteString(w, `{}`)
	})
	return u, &hits
}

func TestDoRetries(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		key      string
		statuses []int
		cfg      func(*upstream.Config)
		wantHits int32
		wantKind upstream.Kind // KindUnknown: success
	}{
		{name: "GET recovers after one 503", method: "GET", statuses: []int{503}, wantHits: 2},
		{name: "GET recovers after two failures", method: "GET", statuses: []int{500, 503}, wantHits: 3},
		{name: "GET gives up after the retries", method: "GET", statuses: []int{503, 503, 503}, wantHits: 3, wantKind: upstream.KindUnavailable},
		{name: "GET retries a 429", method: "GET", statuses: []int{429}, wantHits: 2},
		{name: "GET does not retry a 404", method: "GET", statuses: []int{404}, wantHits: 1, wantKind: upstream.KindNotFound},
		{name: "GET with retries disabled", method: "GET", statuses: []int{500}, cfg: func(c *upstream.Config) { c.Retries = 0 }, wantHits: 1, wantKind: upstream.KindServer},
		{name: "GET with more retries", method: "GET", statuses: []int{503, 503, 503, 503}, cfg: func(c *upstream.Config) { c.Retries = 4 }, wantHits: 5},
		{name: "POST is never retried", method: "POST", statuses: []int{503}, wantHits: 1, wantKind: upstream.KindUnavailable},
		{name: "keyed POST is never retried", method: "POST", key: "k1", statuses: []int{500}, wantHits: 1, wantKind: upstream.KindServer},
		{name: "DELETE is never retried", method: "DELETE", statuses: []int{503}, wantHits: 1, wantKind: upstream.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, hits := scriptedServer(t, tt.statuses...)
			s := newServiceWith(t, []string{u}, settings(tt.cfg), upstream.WithBackoff(time.Millisecond))
			err := s.Do(context.Background(), upstream.Call{Op: "get", Method: tt.method, Path: "/x", IdempotencyKey: tt.key}, nil)
			if got := upstream.KindOf(err); (err == nil) != (tt.wantKind == upstream.KindUnknown) || (err != nil && got != tt.wantKind) {
				t.Errorf("got error %v, want kind %s", err, tt.wantKind)
			}
			if n := hits.Load(); n != tt.wantHits {
				t.Errorf("got %d requests, want %d", n, tt.wantHits)
			}
		})
	}
}

func TestDoRetryOnlyWithinDeadline(t *testing.T) {
	u, hits := scriptedServer(t, 503, 503, 503)
	// A backoff far beyond the deadline leaves no room for a retry.
	s := newService(t, []string{u}, upstream.WithBackoff(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := s.Do(ctx, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil)
	if k := upstream.KindOf(err); k != upstream.KindUnavailable {
		t.Errorf("got kind %s, want unavailable (the 503, not a timeout)", k)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

// countingServer counts requests and answers 200 {}.
func countingServer(t *testing.T) (string, *atomic.Int32) { return scriptedServer(t) }

// TestBalancing: calls one at a time alternate between two instances.
func TestBalancing(t *testing.T) {
	u1, hits1 := countingServer(t)
	u2, hits2 := countingServer(t)
	s := newService(t, []string{u1, u2})
	for range 10 {
		if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	if a, b := hits1.Load(), hits2.Load(); a != 5 || b != 5 {
		t.Errorf("got %d and %d requests, want 5 and 5", a, b)
	}
}

func TestFailoverOnRefusedConnection(t *testing.T) {
	live, hits := countingServer(t)
	s := newService(t, []string{closedURL(t), live})
	// Writes fail over too: a refused connection means nothing was sent.
	for i := range 6 {
		if err := s.Do(context.Background(), upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}, nil); err != nil {
			t.Fatalf("call %d: got %v, want success on the live instance", i, err)
		}
	}
	if n := hits.Load(); n != 6 {
		t.Errorf("got %d requests on the live instance, want 6", n)
	}
}

func TestAllInstancesDown(t *testing.T) {
	s := newService(t, []string{closedURL(t), closedURL(t)})
	e := asError(t, s.Do(context.Background(), upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}, nil))
	if e.Kind != upstream.KindUnavailable || !e.NotSent || e.Ambiguous() || e.Status != 0 || e.Service != "product" || e.Op != "capture" {
		t.Errorf("got %+v, want unavailable, not sent, not ambiguous, status 0, product capture", e)
	}
}

// fakeObserver records calls.
type fakeObserver struct {
	mu    sync.Mutex
	calls []string
}

func (o *fakeObserver) ObserveCall(service, op, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, service+" "+op+" "+outcome)
}

func TestBreakerOpensOnServerErrorsAndFailsFast(t *testing.T) {
	u, hits := scriptedServer(t, 500, 500, 500, 500, 500)
	obs := &fakeObserver{}
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Retries, c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 0, 3, time.Minute
	}), upstream.WithObserver(obs))
	call := upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}
	for i := range 3 {
		if k := upstream.KindOf(s.Do(context.Background(), call, nil)); k != upstream.KindServer {
			t.Fatalf("call %d: got kind %s, want server", i, k)
		}
	}
	e := asError(t, s.Do(context.Background(), call, nil))
	if e.Kind != upstream.KindUnavailable || !e.NotSent || e.Ambiguous() {
		t.Errorf("got kind %s NotSent %v, want unavailable and not sent", e.Kind, e.NotSent)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("got %d requests, want 3: an open breaker sends nothing", n)
	}
	if got := s.BreakerState(); got != "open" {
		t.Errorf("got breaker state %q, want open", got)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"product get server", "product get server", "product get server", "product get unavailable"}
	if !reflect.DeepEqual(obs.calls, want) {
		t.Errorf("got calls %v, want %v", obs.calls, want)
	}
}

func TestBreakerIgnoresBusinessOutcomes(t *testing.T) {
	statuses := []int{404, 409, 402, 400, 422, 401, 404, 409, 402, 400}
	u, hits := scriptedServer(t, statuses...)
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.Breaker.ConsecutiveFailures = 2 }))
	for range statuses {
		s.Do(context.Background(), upstream.Call{Op: "reserve", Method: http.MethodPost, Path: "/x"}, nil)
	}
	if n := hits.Load(); n != int32(len(statuses)) {
		t.Errorf("got %d requests, want %d", n, len(statuses))
	}
	if got := s.BreakerState(); got != "closed" {
		t.Errorf("got breaker state %q, want closed", got)
	}
}

func TestBreakerCountsRefusedConnections(t *testing.T) {
	s := newServiceWith(t, []string{closedURL(t)}, settings(func(c *upstream.Config) {
		c.Retries, c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 0, 2, time.Minute
	}))
	for range 2 {
		s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil)
	}
	if got := s.BreakerState(); got != "open" {
		t.Errorf("got breaker state %q, want open", got)
	}
}

func TestPing(t *testing.T) {
	notFound := newServer(t, http.NotFound)
	tests := []struct {
		name    string
		urls    []string
		wantErr bool
	}{
		{name: "a 404 means up", urls: []string{notFound}},
		{name: "one of two up", urls: []string{closedURL(t), notFound}},
		{name: "down", urls: []string{closedURL(t)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, tt.urls)
			err := s.Ping(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if e := asError(t, err); e.Kind != upstream.KindUnavailable || e.Op != "ping" {
					t.Errorf("got kind %s op %q, want unavailable ping", e.Kind, e.Op)
				}
			}
		})
	}
}

func TestNewServiceRejectsBadConfig(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = "http://127.0.0.1:1"
	}
	tests := []struct {
		name string
		svc  string
		urls []string
	}{
		{name: "no name", svc: "", urls: []string{"http://127.0.0.1:1"}},
		{name: "no url", svc: "product", urls: nil},
		{name: "bad scheme", svc: "product", urls: []string{"ftp://127.0.0.1:1"}},
		{name: "no host", svc: "product", urls: []string{"http://"}},
		{name: "query", svc: "product", urls: []string{"http://127.0.0.1:1/?a=b"}},
		{name: "unparsable", svc: "product", urls: []string{"http://[::1"}},
		{name: "too many", svc: "product", urls: many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := upstream.NewService(tt.svc, tt.urls, upstream.DefaultConfig()); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// TestPingLeavesTheConnectionClean pings a service whose 404 page is large,
// then writes on the same pooled connection: the write must get its own
// answer, not the rest of the ping's page.
func TestPingLeavesTheConnectionClean(t *testing.T) {
	page := strings.Repeat("x", 16<<10)
	var posts atomic.Int32
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"r1"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(page))
	})
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.MaxConnsPerInstance = 1 }))
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var out struct{ ID string }
	if err := s.Do(context.Background(), upstream.Call{Op: "reserve", Method: "POST", Path: "/x", Body: map[string]int{"n": 1}}, &out); err != nil || out.ID != "r1" {
		t.Fatalf("POST after Ping: got %+v, %v; want r1", out, err)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("server saw %d POSTs, want 1", n)
	}
}

// TestCallerOutOfTimeLeavesBreakerClosed: calls whose deadline has already
// passed fail as timeouts without sending, and never open the breaker.
func TestCallerOutOfTimeLeavesBreakerClosed(t *testing.T) {
	u, hits := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 2, time.Minute
	}))
	for range 5 {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		err := s.Do(ctx, upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil)
		cancel()
		if e := asError(t, err); e.Kind != upstream.KindTimeout || !e.NotSent {
			t.Fatalf("expired caller: got kind %s NotSent %v, want timeout, not sent", e.Kind, e.NotSent)
		}
	}
	if got := s.BreakerState(); got != "closed" {
		t.Errorf("breaker state after expired callers = %q, want closed", got)
	}
	if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil); err != nil {
		t.Errorf("a normal call after them: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1 (expired callers send nothing)", n)
	}
}

// TestCallerShortOfTimeLeavesBreakerClosed: calls sent with less time left
// than the service takes time out at the caller's deadline, and neither
// open the breaker nor eject the instance; calls given the whole Timeout
// that time out still open it.
func TestCallerShortOfTimeLeavesBreakerClosed(t *testing.T) {
	u := slowServer(t, 50*time.Millisecond)
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 2, time.Minute
	}))
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := s.Do(ctx, upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil)
		cancel()
		if e := asError(t, err); e.Kind != upstream.KindTimeout {
			t.Fatalf("short caller: got kind %s, want timeout", e.Kind)
		}
	}
	if got := s.BreakerState(); got != "closed" {
		t.Fatalf("breaker state after short callers = %q, want closed", got)
	}
	if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil); err != nil {
		t.Errorf("a caller with time to spare: %v", err)
	}

	// The same slowness against the call's own Timeout is the service's.
	slow := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Timeout, c.Retries = 20*time.Millisecond, 0
		c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 2, time.Minute
	}))
	for range 2 {
		_ = slow.Do(context.Background(), upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil)
	}
	if got := slow.BreakerState(); got != "open" {
		t.Errorf("breaker state after calls timing out at their own Timeout = %q, want open", got)
	}
}

// TestBreakerRatioLeavesExcludedCallsOut: calls the breaker leaves out
// (callers short of time) do not water down its failure ratio.
func TestBreakerRatioLeavesExcludedCallsOut(t *testing.T) {
	u := slowServer(t, 50*time.Millisecond)
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Timeout, c.Retries = 30*time.Millisecond, 0
		c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 1000, time.Minute
		c.Breaker.MinRequests, c.Breaker.FailureRatio = 4, 0.5
	}))
	for range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_ = s.Do(ctx, upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil)
		cancel()
	}
	for range 4 {
		_ = s.Do(context.Background(), upstream.Call{Op: "get", Method: "GET", Path: "/x"}, nil)
	}
	if got := s.BreakerState(); got != "open" {
		t.Errorf("breaker after 6 short callers and 4 timeouts at the call's own Timeout: %q, want open", got)
	}
}

// TestDoKeepsMalformedAnswersOutOfErrors: an answer the client cannot
// parse is an error whose message, which reaches the logs, quotes nothing
// the upstream sent, and so does a problem code that is no identifier.
func TestDoKeepsMalformedAnswersOutOfErrors(t *testing.T) {
	const secret = "tok_live_SECRET_4242"
	answer := func(statusLine, contentType, body string) string {
		return fmt.Sprintf("%s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", statusLine, contentType, len(body), body)
	}
	answers := []string{
		answer("HTTP/1.1 20x OK", "application/json", `{"card":"`+secret+`"}`),
		answer("HTTP/1.1_"+secret, "application/json", `{}`),
		answer("HTTP/1.1 400 Bad Request", "application/problem+json", `{"code":"`+secret+` !"}`),
		answer("HTTP/1.1 400 Bad Request", "application/problem+json", `{"code":"`+strings.Repeat("a", 200)+`"}`),
	}
	for _, answer := range answers {
		u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_, _ = io.WriteString(conn, answer)
				conn.Close()
			}
		})
		s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.Retries = 0 }))
		var out map[string]any
		err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, &out)
		if err == nil {
			t.Fatalf("answer %q: want an error", answer)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), strings.Repeat("a", 100)) {
			t.Errorf("answer %q: the error quotes the upstream's bytes: %v", answer, err)
		}
	}
}

// TestDoCancelledWaitingForAConnection: a call waiting for a connection
// to its instance to free up returns once its caller cancels it, not
// sent, a timeout wrapping the cancellation.
func TestDoCancelledWaitingForAConnection(t *testing.T) {
	answer := make(chan struct{})
	arrived := make(chan struct{}, 1)
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-answer
		_, _ = io.WriteString(w, `{}`)
	})
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.MaxConnsPerInstance = 1 }))
	first := make(chan error, 1)
	go func() {
		first <- s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil)
	}()
	<-arrived // the one connection is taken
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	second := make(chan error, 1)
	go func() { second <- s.Do(ctx, upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}, nil) }()
	time.Sleep(20 * time.Millisecond) // the second call waits for the connection
	cancel()
	select {
	case err := <-second:
		if e := asError(t, err); e.Kind != upstream.KindTimeout || !e.NotSent || !errors.Is(err, context.Canceled) {
			t.Errorf("got kind %s NotSent %v, %v; want a timeout not sent wrapping context.Canceled", e.Kind, e.NotSent, err)
		}
	case <-time.After(2 * time.Second):
		t.Error("a call cancelled while waiting for a connection still waits")
	}
	close(answer)
	if err := <-first; err != nil {
		t.Errorf("first call: %v", err)
	}
}

// TestDoWaitingForAConnectionUntilTheDeadlineSaysNothing: calls that run
// out of time waiting for a connection of this replica's own pool, at the
// caller's deadline, which is the wait's own, say nothing of the service:
// the breaker stays closed and no error but errNoConnection's is seen.
func TestDoWaitingForAConnectionUntilTheDeadlineSaysNothing(t *testing.T) {
	answer := make(chan struct{})
	arrived := make(chan struct{}, 1)
	u := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-answer
		_, _ = io.WriteString(w, `{}`)
	})
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) { c.MaxConnsPerInstance = 1 }))
	go func() {
		_ = s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil)
	}()
	<-arrived // the one connection is taken until the test ends
	defer close(answer)
	var wg sync.WaitGroup
	var waited, late, other atomic.Int32
	for range 600 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := s.Do(ctx, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil)
			e, _ := upstream.As(err)
			switch {
			case err != nil && strings.Contains(err.Error(), "no connection to the instance freed up"):
				waited.Add(1)
			case e != nil && e.NotSent && e.Kind == upstream.KindTimeout && errors.Is(err, context.DeadlineExceeded):
				// Its goroutine ran past the deadline before the call
				// could wait: on a loaded machine, 600 of them queue.
				late.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	wg.Wait()
	if n := other.Load(); n > 0 || waited.Load() == 0 || s.BreakerState() != "closed" {
		t.Errorf("of 600 calls, %d waited for a connection until their deadline, %d ran out of time before, %d ended otherwise; breaker %s; want none otherwise, some waiting, the breaker closed",
			waited.Load(), late.Load(), n, s.BreakerState())
	}
}
