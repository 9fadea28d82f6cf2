package httpserver

import (
	"context"
	"encoding/hex"
	"math/rand/v2"

	"github.com/gofiber/fiber/v2"
)

// HeaderTraceParent is the W3C Trace Context header.
const HeaderTraceParent = "traceparent"

type traceKey struct{}

// trace is a request's W3C trace context: the trace it belongs to and its
// flags. Every upstream call gets a span id of its own under it.
type trace struct {
	id    string // 32 lowercase hex digits, not all zero
	flags string // 2 hex digits
}

// traceContext continues the caller's trace when its traceparent is valid
// (version 00) and starts a new one otherwise, so every upstream call and
// log line of a request carries one trace id.
func traceContext(c *fiber.Ctx) error {
	tr, ok := parseTraceParent(c.Get(HeaderTraceParent))
	if !ok {
		var b [16]byte
		putRandom(b[:])
		tr = trace{id: hex.EncodeToString(b[:]), flags: "01"}
	}
	c.SetUserContext(context.WithValue(c.UserContext(), traceKey{}, tr))
	return c.Next()
}

// parseTraceParent reads "00-<32 hex trace id>-<16 hex parent id>-<2 hex
// flags>"; all-zero ids and other versions are refused. The result owns its
// strings: they are built from copies of the header's bytes.
func parseTraceParent(h string) (trace, bool) {
	if len(h) != 55 || h[:3] != "00-" || h[35] != '-' || h[52] != '-' {
		return trace{}, false
	}
	id, parent, flags := h[3:35], h[36:52], h[53:55]
	if !lowerHex(id) || !lowerHex(parent) || !lowerHex(flags) || allZero(id) || allZero(parent) {
		return trace{}, false
	}
	return trace{id: string([]byte(id)), flags: string([]byte(flags))}, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// putRandom fills b from the runtime's per-thread generator: trace and span
// ids must be unique, not secret, and this costs no system call.
func putRandom(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// TraceID is the trace id of the request ctx belongs to, or "".
func TraceID(ctx context.Context) string {
	tr, _ := ctx.Value(traceKey{}).(trace)
	return tr.id
}

// PropagateHeaders sets, for one upstream call made under ctx, the request
// id and a traceparent with the request's trace id and a new span id. It is
// the upstream clients' header hook.
func PropagateHeaders(ctx context.Context, set func(k, v string)) {
	if id := RequestID(ctx); id != "" {
		set(HeaderRequestID, id)
	}
	if tr, ok := ctx.Value(traceKey{}).(trace); ok {
		var span [8]byte
		putRandom(span[:])
		set(HeaderTraceParent, "00-"+tr.id+"-"+hex.EncodeToString(span[:])+"-"+tr.flags)
	}
}
