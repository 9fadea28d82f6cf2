package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The transport is valyala/fasthttp's HostClient, one per instance, chosen by
// measurement (transport_bench_test.go, parallel, same local net/http
// server): a small JSON GET took 28-38 µs, 2.3 KB and 22 allocations against
// 36-50 µs, 6.2 KB and 69 for a tuned net/http Transport; a 300-byte POST
// 29-33 µs, 2.5 KB and 27 allocations against 42-57 µs, 6.9 KB and 83 (the
// figures include the in-process server's share, the same for both). What it
// lacks, and how this file makes up for it:
//
//   - No context: a call is bounded by its deadline (DoDeadline with the
//     sooner of the context's deadline and the cap), not interrupted by a
//     cancellation mid-flight; a cancellation stops only the wait for a
//     connection (acquire) and the retries. Most of the BFFs' contexts end
//     by deadline, since fasthttp servers do not report a client going
//     away; a screen whose required part failed waits for its other parts'
//     reads in flight (see send).
//   - No "was the request written" signal: a dial failure is recognised by
//     wrapping the dialer's error (dialError), a certificate refused in
//     the TLS handshake by its error, and the wait for a free connection happens here (acquire),
//     so these are NotSent; any failure after the connection was up is
//     ambiguous.
//   - Its own retries of idempotent requests are disabled, so retries are
//     counted, backed off and bounded in one place (Service.do).
//
// GETs are not pipelined (HTTP/1.1, many on one connection), though on the
// order page in make bench that cost the sandbox a fifth less CPU per call
// and bff-web a seventh less per page (means of 7 alternated runs): a
// server answers a connection's requests one after another, so one slow
// read, or a service whose reads take milliseconds, would hold up every
// read behind it, where the sandbox's reads take microseconds.

// instance is one base URL of a service.
type instance struct {
	// base prefixes every request URI; addr is the address dialled.
	base, addr string
	// host and port are the target's, for the attributes of client spans.
	host   string
	port   int
	client *fasthttp.HostClient
	// downUntil is the clock's UnixNano until which the instance is left out
	// of the balancing; 0 when healthy.
	downUntil atomic.Int64
	// inflight counts the requests being sent to it, for the balancing;
	// picked is the pool's count of picks when it was last picked.
	inflight atomic.Int64
	picked   atomic.Uint64
	// slots holds a token per request on its way, at most
	// MaxConnsPerInstance: a request waits here, not in the HostClient, for
	// a connection to free up (see acquire).
	slots chan struct{}
	// failures counts the failures in a row, ejections the ejections since
	// it last answered well.
	failures, ejections atomic.Int32
}

func newInstance(t target, addr string, cfg config) *instance {
	client := &fasthttp.HostClient{
		Addr:  addr,
		IsTLS: t.tls,
		// The address dialled is the resolved one: the certificate is
		// checked against the URL's host name.
		TLSConfig:                 &tls.Config{ServerName: t.host, MinVersion: tls.VersionTLS12},
		Name:                      "storefront-bff",
		DialTimeout:               dialer(cfg.DialTimeout),
		MaxConns:                  cfg.MaxConnsPerInstance,
		MaxIdleConnDuration:       cfg.idleTimeout,
		MaxConnWaitTimeout:        cfg.Timeout,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		MaxResponseBodySize:       cfg.maxBody,
		// Paths arrive escaped (url.PathEscape) and must reach the service
		// as they are: normalizing would decode "%2F" into a separator.
		DisablePathNormalizing: true,
		// fasthttp otherwise quotes what it read of an answer it cannot
		// parse in its error, which is logged: no upstream bytes reach a
		// log (see withoutContents for the errors that still quote them).
		SecureErrorLogMessage: true,
	}
	port, _ := strconv.Atoi(t.port)
	return &instance{base: t.base, addr: addr, host: t.host, port: port, client: client,
		slots: make(chan struct{}, cfg.MaxConnsPerInstance)}
}

// errNoConnection is the cause of a call that found every connection to
// its instance in use until its deadline: its request was not sent.
var errNoConnection = fmt.Errorf("no connection to the instance freed up before the deadline: %w", context.DeadlineExceeded)

// acquire takes a place for one request, waiting until deadline for one to
// free up or ctx to end: errNoConnection when none did, ctx's error when
// it ended. The HostClient would wait for a
// connection as well, but it answers a wait cut short by the request's
// deadline with the same error as a response that never came, and a
// write must know that it was not sent.
func (in *instance) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case in.slots <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case in.slots <- struct{}{}:
		return nil
	case <-wait.C:
		return errNoConnection
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		// The deadline, which the wait's own timer is too, or about: it
		// ran out waiting for this replica's own pool, which says nothing
		// of the service (see saysNothing).
		return errNoConnection
	}
}

// release gives back the place acquire took.
func (in *instance) release() { <-in.slots }

func (in *instance) available(now time.Time) bool {
	return now.UnixNano() >= in.downUntil.Load()
}

func (in *instance) coolDown(until time.Time) { in.downUntil.Store(until.UnixNano()) }

// observe keeps the instance's health after a request that ended in err:
// a refused connection leaves it out for cooldown; DefaultEjectAfter
// failures in a row (no answer, a 5xx) eject it for cooldown, doubled at
// each ejection up to DefaultMaxCooldown, until it answers well again.
// The clock is read only to start a cooldown.
func (in *instance) observe(err error, now func() time.Time, cooldown time.Duration) {
	switch {
	case saysNothing(err):
		// Says nothing of the instance.
	case refused(err):
		in.coolDown(now().Add(cooldown))
	case !tripsBreaker(err):
		in.failures.Store(0)
		in.ejections.Store(0)
	case in.failures.Add(1) >= DefaultEjectAfter:
		in.failures.Store(0)
		n := min(in.ejections.Add(1)-1, 10)
		in.coolDown(now().Add(min(cooldown<<n, DefaultMaxCooldown)))
	}
}

// ping sends GET /__health and accepts any answer.
func (in *instance) ping(ctx context.Context, deadline time.Time) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(in.base + "/__health")
	req.Header.SetMethod(http.MethodGet)
	if err := in.acquire(ctx, deadline); err != nil {
		return err
	}
	defer in.release()
	// The body is read (and bounded by the response size limit), never
	// skipped: a skipped body left on a pooled connection would be read as
	// the answer to the next request on it.
	return in.client.DoDeadline(req, resp, deadline)
}

// dialError marks a failure to open a connection: the request was not sent.
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return "dial " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func dialer(limit time.Duration) fasthttp.DialFuncWithTimeout {
	d := &fasthttp.TCPDialer{DNSCacheDuration: time.Minute}
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 || timeout > limit {
			timeout = limit
		}
		// Dual stack: the address may be an IPv6 one, which DialTimeout
		// would not dial.
		conn, err := d.DialDualStackTimeout(addr, timeout)
		if err != nil {
			return nil, &dialError{addr: addr, err: err}
		}
		return conn, nil
	}
}

// clientSpan makes a CLIENT span; a variable, so that passing it does not
// allocate the variadic slice on every request.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// roundTrip sends one HTTP request (attempt 0, or a retry, which started
// at start) to one instance under a CLIENT span of its own, whose trace
// context the request carries, and reports it to the AttemptObserver.
func (s *Service) roundTrip(ctx context.Context, in *instance, start, deadline time.Time, c Call, body []byte, out any, attempt int) error {
	ctx, span := s.cfg.tracer.Start(ctx, c.Method, clientSpan...)
	in.inflight.Add(1)
	status, err := s.exchange(ctx, in, deadline, c, body, out)
	err = callersTimeout(ctx, start, deadline, s.cfg.Timeout, err)
	in.inflight.Add(-1)
	in.observe(err, s.cfg.now, s.cfg.cooldown)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", c.Method), attribute.String("server.address", in.host),
			attribute.Int("server.port", in.port), attribute.String("url.full", in.base+c.Path),
			attribute.String("peer.service", s.name), attribute.String("storefront.upstream.operation", c.Op))
		if attempt > 0 {
			span.SetAttributes(attribute.Int("http.request.resend_count", attempt))
		}
		if status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if err != nil {
			span.SetAttributes(attribute.String("error.type", KindOf(err).String()))
			span.SetStatus(codes.Error, KindOf(err).String())
		}
	}
	span.End()
	if ao, ok := s.cfg.observer.(AttemptObserver); ok {
		outcome := "ok"
		if err != nil {
			outcome = KindOf(err).String()
		}
		ao.ObserveAttempt(s.name, outcome)
	}
	return err
}

// headerAccept and mediaJSON are the Accept header of every request,
// already in canonical form.
var headerAccept, mediaJSON = fasthttp.AppendNormalizedHeaderKey(nil, fasthttp.HeaderAccept), []byte("application/json")

// exchange sends one request to one instance and maps the outcome; status
// is the answer's, 0 when there was none.
func (s *Service) exchange(ctx context.Context, in *instance, deadline time.Time, c Call, body []byte, out any) (status int, err error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	s.prepare(ctx, req, in, c, body)
	if !time.Now().Before(deadline) {
		release(req, resp)
		return 0, &Error{Service: s.name, Op: c.Op, Kind: KindTimeout, NotSent: true, Err: errOutOfTime}
	}
	if err := in.acquire(ctx, deadline); err != nil {
		release(req, resp)
		return 0, &Error{Service: s.name, Op: c.Op, Kind: KindTimeout, NotSent: true, Err: err}
	}
	if err := in.send(req, resp, deadline); err != nil {
		release(req, resp)
		return 0, transportError(s.name, c.Op, deadline, err)
	}
	defer release(req, resp)
	return s.answer(c, resp, out)
}

// prepare writes the request of c to in into req.
func (s *Service) prepare(ctx context.Context, req *fasthttp.Request, in *instance, c Call, body []byte) {
	// The URI is put together in a buffer of the stack, which the request
	// copies: concatenating strings would allocate twice a call.
	var buf [256]byte
	uri := append(append(buf[:0], in.base...), c.Path...)
	if len(c.Query) > 0 {
		uri = append(append(uri, '?'), c.Query.Encode()...)
	}
	req.SetRequestURIBytes(uri)
	req.Header.SetMethod(c.Method)
	req.Header.SetCanonical(headerAccept, mediaJSON)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if c.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", c.IdempotencyKey)
	}
	if h := s.cfg.headers; h != nil {
		h(ctx, func(k, v string) { req.Header.Set(k, v) })
	}
}

// answer maps the answer resp to c: its status, and out decoded from its
// body or the error it is.
func (s *Service) answer(c Call, resp *fasthttp.Response, out any) (status int, err error) {
	status = resp.StatusCode()
	if status < 200 || status > 299 {
		return status, statusError(s.name, c.Op, status, resp.Body())
	}
	if out == nil {
		return status, nil
	}
	if _, none := out.(*struct{}); none {
		// The caller wants no value (a revocation): whatever came is fine.
		return status, nil
	}
	if absent(resp.Body()) {
		if c.AnswerOptional && (status == http.StatusNoContent || status == http.StatusAccepted) {
			// Said to carry nothing (a release answered 204), to a caller
			// that can do without the answer: out keeps its zero value.
			return status, nil
		}
		// Decoding would leave out's zero value, which, served or acted
		// on, would be a product 0 or an order of nobody: the answer is
		// a failure.
		return status, &Error{Service: s.name, Op: c.Op, Status: status, Kind: KindUnknown, Err: errNoValue}
	}
	// go-json copies its input, so out holds nothing of the pooled buffer.
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return status, &Error{Service: s.name, Op: c.Op, Status: status, Kind: KindUnknown, Err: fmt.Errorf("decode response: %w", err)}
	}
	return status, nil
}

func release(req *fasthttp.Request, resp *fasthttp.Response) {
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// send sends req on the place acquire took, and gives the place back.
// The client stops only at the deadline, not when ctx is cancelled: a
// read a screen no longer needs (its required part failed) runs to its
// answer or deadline. Sending each read on a goroutine of its own, to
// abandon it, cost a sixth more per read (BenchmarkTypedGet/wired).
func (in *instance) send(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	err := in.client.DoDeadline(req, resp, deadline)
	in.release()
	return err
}

// errNoValue is the cause of a success answer without the value the call
// asked for.
var errNoValue = errors.New("decode response: the answer holds no value")

// absent reports whether a JSON body holds no value: empty, blank or null.
func absent(body []byte) bool {
	body = bytes.TrimSpace(body)
	return len(body) == 0 || string(body) == "null"
}

// refused reports whether err is a connection the instance did not accept
// before the deadline: the instance is down and the request was not sent.
func refused(err error) bool {
	e, ok := err.(*Error)
	if !ok || !e.NotSent || e.Kind != KindUnavailable {
		return false
	}
	var de *dialError
	return errors.As(e.Err, &de)
}

// transportError maps a failure without an HTTP answer.
func transportError(service, op string, deadline time.Time, err error) *Error {
	e := &Error{Service: service, Op: op, Err: err}
	var de *dialError
	switch {
	case errors.As(err, &de):
		// The dial timeout is shorter than the call's: only a dial that ran
		// into the call's deadline is that call's timeout; otherwise the
		// instance is unreachable and another may answer.
		e.NotSent = true
		e.Kind = KindUnavailable
		if isTimeout(de.err) && !time.Now().Before(deadline) {
			e.Kind = KindTimeout
		}
	case errors.Is(err, fasthttp.ErrNoFreeConns) || handshakeFailed(err):
		e.Kind, e.NotSent = KindUnavailable, true
	case isTimeout(err):
		e.Kind = KindTimeout
	default:
		// Closed or reset after the connection was up: the request may have
		// been written and processed.
		e.Kind = KindServer
		e.Err = withoutContents(err)
	}
	return e
}

// handshakeFailed reports whether err is a TLS handshake that failed on
// the instance's certificate (not trusted, or not for its name): that is
// checked only while the connection is set up, before any request is
// written. Other TLS errors (a bad record) may come while an answer is
// read, after the request was sent.
func handshakeFailed(err error) bool {
	var verify *tls.CertificateVerificationError
	return errors.As(err, &verify)
}

// withoutContents drops the response bytes fasthttp quotes in its parse
// errors ("..., contents: ..."), so that no upstream body reaches a log.
func withoutContents(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "contents:"); i >= 0 {
		return errors.New(strings.TrimRight(msg[:i], ", ") + " (response bytes withheld)")
	}
	return err
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxDetail bounds the detail kept from a problem document: it is for logs.
const maxDetail = 512

// statusError maps a non-2xx answer, reading only the problem document's
// fields: the raw body is never kept.
func statusError(service, op string, status int, body []byte) *Error {
	e := &Error{Service: service, Op: op, Status: status, Kind: kindOfStatus(status)}
	var p Problem
	if len(body) > 0 && json.Unmarshal(body, &p) == nil {
		e.Code = codeOf(p.Code)
		e.Detail = p.Detail
		if len(e.Detail) > maxDetail {
			e.Detail = e.Detail[:maxDetail]
		}
		e.DeclineReason = p.DeclineReason
		e.Unavailable = p.Unavailable
	}
	if status == http.StatusConflict && e.Code == "out_of_stock" {
		e.Kind = KindOutOfStock
	}
	if e.Kind != KindOutOfStock {
		e.Unavailable = nil
	}
	return e
}

// maxCode bounds a problem code kept from an upstream's answer.
const maxCode = 64

// codeOf is the problem code an upstream answered, kept when it is an
// identifier ("out_of_stock") of at most maxCode bytes and otherwise
// dropped: it goes into the error's message, which reaches the logs.
func codeOf(code string) string {
	if len(code) > maxCode || strings.ContainsFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) {
		return ""
	}
	return code
}

func kindOfStatus(status int) Kind {
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		return KindNotFound
	case status == http.StatusConflict:
		return KindConflict
	case status == http.StatusPaymentRequired:
		return KindDeclined
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindUnauthorized
	case status == http.StatusRequestTimeout:
		return KindTimeout
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return KindUnavailable
	case status >= 500:
		return KindServer
	case status >= 400:
		// 400, 422 and every other 4xx: the request itself was wrong.
		return KindInvalid
	}
	return KindUnknown
}
