package httpserver

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// errLogged marks a cause that was already logged where it happened.
var errLogged = errors.New("logged")

// frameworkProblems are the answers to the errors Fiber and fasthttp raise
// themselves (a request that is not well-formed HTTP, a body or headers too
// large, a client too slow, an unknown route), one fixed document per
// status, without the request's path: fasthttp's messages quote the raw
// request, Authorization and Cookie included, so no part of one reaches a
// client. Any other status is an internal error.
var frameworkProblems = map[int]problem.Error{
	fiber.StatusBadRequest:                  {Code: problem.CodeInvalid, Detail: "The request is not well-formed HTTP/1.1."},
	fiber.StatusNotFound:                    {Code: problem.CodeNotFound, Detail: "No resource is served at this path."},
	fiber.StatusMethodNotAllowed:            {Code: problem.CodeMethodNotAllowed, Detail: "The resource at this path does not take this method."},
	fiber.StatusNotImplemented:              {Code: problem.CodeNotImplemented, Detail: "The server does not implement this request method."},
	fiber.StatusRequestEntityTooLarge:       {Code: problem.CodeTooLarge, Detail: "The request body is larger than the server accepts."},
	fiber.StatusRequestHeaderFieldsTooLarge: {Code: problem.CodeHeadersTooLarge, Detail: "The request line and headers are larger than the server accepts."},
	fiber.StatusUnsupportedMediaType:        {Code: problem.CodeUnsupportedMedia, Detail: "The request body's media type is not accepted."},
	// A client too slow to send its request: not one of our deadlines
	// running out, which CodeTimeout (504) means.
	fiber.StatusRequestTimeout: {Code: problem.CodeRequestTimeout, Detail: "The request was not received in time."},
}

// handleError writes err as problem+json. It is Fiber's ErrorHandler and is
// also called by the observe middleware, so every error is written once, in
// one place, and logged once when it is the server's fault.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var ferr *fiber.Error
	if requestIDOf(c) == "" && errors.As(err, &ferr) && ferr.Code == fiber.StatusBadGateway {
		// Fiber's name for the client's connection failing while its
		// request was read (a reset, a phone losing signal): nobody is
		// there to answer, and nothing failed on this side.
		c.Context().SetConnectionClose()
		return nil
	}
	unread := requestIDOf(c) == ""
	if unread {
		// The request was refused while being read (too large, malformed),
		// before any middleware ran: it still gets an id and the headers
		// every answer carries, and is counted and logged (observe never
		// saw it).
		id := newRequestID()
		c.Locals(requestIDKey, id)
		c.Set(HeaderRequestID, id)
		setSecurityHeaders(c, s.cfg.HSTS)
		defer s.observeUnread(c)
	}
	if s.refusalHeaders != nil && (unread || errors.Is(err, errCodedBody)) {
		s.refusalHeaders(c)
	}
	var p *problem.Error
	instance := c.Path()
	switch {
	case errors.As(err, &p):
	case errors.As(err, &ferr):
		fixed, ok := frameworkProblems[ferr.Code]
		if !ok {
			fixed = *problem.From(err)
		}
		p, instance = &fixed, ""
	default:
		p = problem.From(err)
	}
	if st := p.Status(); unread && (st == fiber.StatusRequestEntityTooLarge || st == fiber.StatusRequestHeaderFieldsTooLarge) {
		// The connection is closed after the answer, the rest of the
		// request, still on its way, read and thrown away first; not
		// after a timeout, which a client too slow to send its request
		// would only make longer.
		lingerOnClose(c.Context().Conn())
	}
	// A 501 is the client's method, not a failure of the server's.
	if p.Status() >= 500 && p.Code != problem.CodeNotImplemented && !errors.Is(p.Err, errLogged) {
		s.logger.Error("request failed", "request_id", requestIDOf(c), "trace_id", TraceID(c.UserContext()), "route", c.Route().Path,
			"status", p.Status(), "code", string(p.Code), "err", err)
	}
	return writeProblem(c, p, instance)
}

func writeProblem(c *fiber.Ctx, p *problem.Error, instance string) error {
	body, err := json.Marshal(p.Document(instance))
	if err != nil {
		return err
	}
	if p.Status() == fiber.StatusUnauthorized && len(c.Response().Header.Peek(fiber.HeaderWWWAuthenticate)) == 0 && !refusedExchange(p) {
		c.Set(fiber.HeaderWWWAuthenticate, bearerChallenge)
	}
	problemHeaders(c.Set, p)
	return c.Status(p.Status()).Send(body)
}

// writeHTTPProblem is writeProblem for the admin listener's net/http
// handlers.
func writeHTTPProblem(w http.ResponseWriter, p *problem.Error, instance string) {
	body, err := json.Marshal(p.Document(instance))
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	problemHeaders(w.Header().Set, p)
	w.WriteHeader(p.Status())
	_, _ = w.Write(body)
}

// problemHeaders sets, through set, the header fields of every answer
// carrying p.
func problemHeaders(set func(key, value string), p *problem.Error) {
	// Every 503 says when to come back: one whose problem names no delay
	// gets the least, rather than leaving its client to guess.
	if p.RetryAfter > 0 || p.Status() == fiber.StatusServiceUnavailable {
		set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(p.RetryAfter)))
	}
	set(fiber.HeaderContentType, problem.ContentType)
	set(fiber.HeaderCacheControl, "no-store")
}

// A 401 names how to authenticate (RFC 9110 §11.6.1), whether a bearer
// token or a session cookie was missing or refused, or the account behind
// it is gone: writeProblem gives bearerChallenge to one that set no more
// specific challenge of its own (RequireUser's invalid_token).
//
// refusedExchange reports the exception: p is the user service refusing
// a credential the client sent in the request's body to trade it (a login's
// password, a refresh token). No scheme of HTTP authentication applies to
// the route that trades it, and the published contract declares no
// challenge on that 401.
func refusedExchange(p *problem.Error) bool {
	return upstream.KindOf(p.Err) == upstream.KindUnauthorized
}

// setRetryAfter sets Retry-After to d in whole seconds, the only unit the
// field has: rounded up, since a client retrying after a rounded-down delay
// would arrive too early, and at least 1, since 0 invites a retry at once.
func setRetryAfter(c *fiber.Ctx, d time.Duration) {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(d)))
}

// retryAfterSeconds is d in the seconds of a Retry-After (see
// setRetryAfter).
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// unread is the route label of a request refused while being read, before
// routing: its path is the client's, not a route's.
const unread = "unread"

// observeUnread counts and logs a request refused while being read, as
// observe does any other, under the route unread and, when its method is
// not one Fiber routes (a malformed request's may be anything), the
// method "other", so that clients cannot make label values up. A request
// whose request line was not kept has the method "unknown": fasthttp
// drops a request whose chunked body runs over the limit, and never
// parses one whose headers do, and its method would read as the default,
// GET.
func (s *Server) observeUnread(c *fiber.Ctx) {
	method := "other"
	for _, m := range fiber.DefaultMethods {
		if c.Method() == m {
			method = m
		}
	}
	if len(c.Request().Header.RawHeaders()) == 0 {
		method = "unknown"
	}
	status := c.Response().StatusCode()
	// Not timed: fasthttp stamps a request's start only once it has read
	// it, so a refused one has no start of its own (the zero time, or the
	// connection's previous request's). It is answered as soon as it is
	// refused: 0. There is no span to trace.
	var d time.Duration
	s.metrics.ObserveRequest(method, unread, statusLabel(status), d)
	if s.logger.Enabled(c.UserContext(), slog.LevelInfo) {
		s.logger.LogAttrs(c.UserContext(), slog.LevelInfo, "request",
			slog.String("request_id", requestIDOf(c)), slog.String("method", method), slog.String("route", unread),
			slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int("bytes", len(c.Response().Body())))
	}
}
