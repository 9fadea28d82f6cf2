package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

type ctxKey int

const requestIDKey ctxKey = iota

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-ID"

// RequestID returns the request id stored in ctx by the middleware, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithRequestID returns ctx carrying id, for work started outside a request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// validRequestID accepts a caller's id only when it is short and plain, so a
// client cannot inject arbitrary bytes into logs and upstream headers.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// requestIDPrefix makes ids unique across processes; the counter makes them
// unique within one, without a getrandom system call per request.
var (
	requestIDPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestIDSeq atomic.Uint64
)

// requestIDLen is the most bytes a request id made here takes: the
// prefix, a dash and at most 13 digits.
const requestIDLen = len("0123456789abcdef-") + 13

func newRequestID() string {
	// One allocation, the string.
	var buf [requestIDLen]byte
	return string(appendRequestID(buf[:0]))
}

// appendRequestID appends a new request id to b.
func appendRequestID(b []byte) []byte {
	b = append(append(b, requestIDPrefix...), '-')
	return strconv.AppendUint(b, requestIDSeq.Add(1), 36)
}

// requestID takes the caller's X-Request-ID when valid or makes one, echoes
// it, and puts it in the request's user context.
func requestID(c *fiber.Ctx) error {
	id := c.Get(HeaderRequestID)
	if validRequestID(id) {
		id = string([]byte(id)) // own the bytes: fasthttp reuses the header buffer
	} else {
		id = newRequestID()
	}
	c.Set(HeaderRequestID, id)
	// Boxed once for the locals and the context, rather than once for each.
	boxed := any(id)
	c.Locals(requestIDKey, boxed)
	c.SetUserContext(context.WithValue(c.UserContext(), requestIDKey, boxed))
	return c.Next()
}

func requestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDKey).(string)
	return id
}

// recoverPanic turns a panic into a 500 problem carrying the request id,
// logged once with its stack; the stack never reaches the client.
func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic", "request_id", requestIDOf(c), "trace_id", TraceID(c.UserContext()), "route", c.Route().Path,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &problem.Error{Code: problem.CodeInternal, Detail: "The request could not be completed.", Extensions: map[string]any{"request_id": requestIDOf(c)}, Err: errLogged}
		}
	}()
	return c.Next()
}

// securityHeaders sets the headers every JSON answer carries.
func securityHeaders(hsts bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		setSecurityHeaders(c, hsts)
		return c.Next()
	}
}

func setSecurityHeaders(c *fiber.Ctx, hsts bool) {
	h := &c.Response().Header
	for _, kv := range securityHeaderFields {
		h.SetCanonical(kv[0], kv[1])
	}
	if hsts {
		h.SetCanonical(hstsField[0], hstsField[1])
	}
}

// securityHeaderFields are the headers setSecurityHeaders sets, as bytes and
// with their names already canonical, so that every answer spares their
// conversion and normalization.
var (
	securityHeaderFields = [][2][]byte{
		{canonicalKey("X-Content-Type-Options"), []byte("nosniff")},
		{canonicalKey("Referrer-Policy"), []byte("no-referrer")},
		{canonicalKey("Content-Security-Policy"), []byte("default-src 'none'; frame-ancestors 'none'")},
		{canonicalKey("X-Frame-Options"), []byte("DENY")},
		{canonicalKey("Cross-Origin-Resource-Policy"), []byte("same-origin")},
	}
	hstsField = [2][]byte{canonicalKey("Strict-Transport-Security"), []byte("max-age=63072000; includeSubDomains")}
)

// unmatched is the route label of a request no route matched.
const unmatched = "unmatched"

// observe traces, measures and logs every request after its error has been
// written, labelled by the route pattern (never the raw path, which would
// let clients create unbounded label values). The access log line is at
// info: LOG_LEVEL=warn silences it. It names no header, query or body, so
// that no token, cookie or password can reach it.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	span := s.startSpan(c)
	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			s.logger.ErrorContext(c.UserContext(), "write error response", "err", herr)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	// Fiber's own 404 and 405 mean no route matched; Route() then names
	// whatever prefix middleware ran ("/v1", "/api") or "/".
	var fe *fiber.Error
	if errors.As(err, &fe) && (fe.Code == fiber.StatusNotFound || fe.Code == fiber.StatusMethodNotAllowed) || status == fiber.StatusNotFound && route == "/" {
		route = unmatched
	}
	d := time.Since(start)
	// The metric keeps its label values: the method must not be a view of
	// fasthttp's buffer, which the next request on the connection rewrites.
	method := ownedMethod(c.Method())
	endSpan(span, method, route, status)
	s.metrics.ObserveRequest(method, route, statusLabel(status), d)
	// Checked first: the arguments would otherwise be boxed on every request
	// even with the access log off.
	if !s.logger.Enabled(c.UserContext(), slog.LevelInfo) {
		return nil
	}
	attrs := [...]slog.Attr{slog.String("request_id", requestIDOf(c)), slog.String("trace_id", TraceID(c.UserContext())),
		slog.String("method", method), slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.Int("bytes", len(c.Response().Body())), {}}
	if c.Locals(shedKey{}) == nil {
		s.logger.LogAttrs(c.UserContext(), slog.LevelInfo, "request", attrs[:len(attrs)-1]...)
		return nil
	}
	// Shed: one line a second at most, which counts those left out.
	if unlogged, ok := s.sheds.allow(start); ok {
		attrs[len(attrs)-1] = slog.Int64("shed_unlogged", unlogged)
		s.logger.LogAttrs(c.UserContext(), slog.LevelInfo, "request shed", attrs[:]...)
	}
	return nil
}

// ownedMethod is method in a string of its own: the constant of a method
// Fiber routes, without a copy, else a copy.
func ownedMethod(method string) string {
	for _, m := range fiber.DefaultMethods {
		if method == m {
			return m
		}
	}
	return strings.Clone(method)
}

// statusLabels are the decimal forms of the statuses 100 to 599, made once.
var statusLabels = func() (labels [500]string) {
	for i := range labels {
		labels[i] = strconv.Itoa(100 + i)
	}
	return labels
}()

// statusLabel is status in decimal, the label value of its metric.
func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}
