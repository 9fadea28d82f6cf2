package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the ids LogHandler adds.
const (
	RequestIDKey = "request_id"
	TraceIDKey   = "trace_id"
)

// LogHandler returns h adding to each record the ids of the request its
// context belongs to: request_id, which requestID reads from the context
// (nil: none), and trace_id, the trace of the context's span. Code that
// logs with the request's context (LogAttrs(ctx, ...), InfoContext) then
// needs no ids of its own. An id is left out when empty, and when the
// record or the logger (With) already has its key, so that a line never
// carries a key twice. The ids are top-level keys, outside any group the
// logger opened.
//
// requestID is a function, not a context key, because the key belongs to
// the HTTP server's package, which imports this one.
func LogHandler(h slog.Handler, requestID func(context.Context) string) slog.Handler {
	return &idHandler{inner: h, grouped: h, requestID: requestID}
}

// idHandler is LogHandler's handler. WithGroup cannot be passed on to
// inner at once: the ids, known only at Handle, would land in the group.
// So inner has the logger's attributes up to its first group, and after
// holds the groups and attributes from there on, applied after the ids.
type idHandler struct {
	inner     slog.Handler
	requestID func(context.Context) string
	// has says whether the logger's own attributes hold request_id and
	// trace_id at the top level.
	hasRequestID, hasTraceID bool
	after                    []groupOrAttrs
	// grouped is inner with after applied, for records with no id to add.
	grouped slog.Handler
}

// groupOrAttrs is a WithGroup (group set) or a WithAttrs.
type groupOrAttrs struct {
	group string
	attrs []slog.Attr
}

var _ slog.Handler = (*idHandler)(nil)

func (h *idHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *idHandler) Handle(ctx context.Context, r slog.Record) error {
	var ids [2]slog.Attr
	n := 0
	if ctx != nil {
		if !h.hasRequestID && h.requestID != nil {
			if id := h.requestID(ctx); id != "" {
				ids[n] = slog.String(RequestIDKey, id)
				n++
			}
		}
		if !h.hasTraceID {
			if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
				ids[n] = slog.String(TraceIDKey, sc.TraceID().String())
				n++
			}
		}
	}
	if n > 0 && len(h.after) == 0 {
		n = withoutKeysOf(r, ids[:n])
	}
	if n == 0 {
		return h.grouped.Handle(ctx, r)
	}
	if len(h.after) == 0 {
		r.AddAttrs(ids[:n]...)
		return h.inner.Handle(ctx, r)
	}
	// The record's own attributes are in a group: the ids, at the top
	// level, cannot clash with them.
	return apply(h.inner.WithAttrs(ids[:n]), h.after).Handle(ctx, r)
}

// withoutKeysOf moves to the front of ids those whose key r's attributes
// do not have, and returns their number.
func withoutKeysOf(r slog.Record, ids []slog.Attr) int {
	if r.NumAttrs() == 0 {
		return len(ids)
	}
	r.Attrs(func(a slog.Attr) bool {
		for i := 0; i < len(ids); i++ {
			if a.Key == ids[i].Key {
				ids = append(ids[:i], ids[i+1:]...)
				break
			}
		}
		return len(ids) > 0
	})
	return len(ids)
}

func (h *idHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	if len(h.after) > 0 {
		c.after = append(h.after[:len(h.after):len(h.after)], groupOrAttrs{attrs: attrs})
		c.grouped = h.grouped.WithAttrs(attrs)
		return &c
	}
	for _, a := range attrs {
		c.hasRequestID = c.hasRequestID || a.Key == RequestIDKey
		c.hasTraceID = c.hasTraceID || a.Key == TraceIDKey
	}
	c.inner = h.inner.WithAttrs(attrs)
	c.grouped = c.inner
	return &c
}

func (h *idHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.after = append(h.after[:len(h.after):len(h.after)], groupOrAttrs{group: name})
	c.grouped = h.grouped.WithGroup(name)
	return &c
}

// apply returns h with the groups and attributes of ops.
func apply(h slog.Handler, ops []groupOrAttrs) slog.Handler {
	for _, op := range ops {
		if op.group != "" {
			h = h.WithGroup(op.group)
		} else {
			h = h.WithAttrs(op.attrs)
		}
	}
	return h
}
