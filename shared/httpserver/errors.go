package httpserver

import (
	"errors"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

// errLogged marks a cause that was already logged where it happened.
var errLogged = errors.New("logged")

// fiberCodes maps Fiber's own errors (unknown route, body too large, ...) to
// problem codes.
var fiberCodes = map[int]problem.Code{
	fiber.StatusBadRequest:                  problem.CodeInvalid,
	fiber.StatusNotFound:                    problem.CodeNotFound,
	fiber.StatusMethodNotAllowed:            problem.CodeMethodNotAllowed,
	fiber.StatusRequestEntityTooLarge:       problem.CodeTooLarge,
	fiber.StatusRequestHeaderFieldsTooLarge: problem.CodeHeadersTooLarge,
	fiber.StatusUnsupportedMediaType:        problem.CodeUnsupportedMedia,
	// A client too slow to send its request: not one of our deadlines
	// running out, which CodeTimeout (504) means.
	fiber.StatusRequestTimeout: problem.CodeRequestTimeout,
}

// handleError writes err as problem+json. It is Fiber's ErrorHandler and is
// also called by the observe middleware, so every error is written once, in
// one place, and logged once when it is the server's fault.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if requestIDOf(c) == "" {
		// The request was refused while being read (too large, malformed),
		// before any middleware ran: it still gets an id and the headers
		// every answer carries.
		id := newRequestID()
		c.Locals(requestIDKey, id)
		c.Set(HeaderRequestID, id)
		setSecurityHeaders(c, s.cfg.HSTS)
	}
	var p *problem.Error
	var ferr *fiber.Error
	switch {
	case errors.As(err, &p):
	case errors.As(err, &ferr):
		code, ok := fiberCodes[ferr.Code]
		if !ok {
			code = problem.CodeInternal
		}
		p = &problem.Error{Code: code}
		if code != problem.CodeInternal {
			p.Detail = ferr.Message
		}
	default:
		p = problem.From(err)
	}
	if p.Status() >= 500 && !errors.Is(p.Err, errLogged) {
		s.logger.Error("request failed", "request_id", requestIDOf(c), "trace_id", TraceID(c.UserContext()), "route", c.Route().Path,
			"status", p.Status(), "code", string(p.Code), "err", err)
	}
	return WriteProblem(c, p)
}

// WriteProblem writes p as an RFC 9457 problem document.
func WriteProblem(c *fiber.Ctx, p *problem.Error) error {
	body, err := json.Marshal(p.Document(c.Path()))
	if err != nil {
		return err
	}
	if p.RetryAfter > 0 {
		// Rounded up: a client retrying after a rounded-down delay would
		// arrive too early.
		secs := (p.RetryAfter + time.Second - 1) / time.Second
		c.Set(fiber.HeaderRetryAfter, itoa(int(secs)))
	}
	c.Set(fiber.HeaderContentType, problem.ContentType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(p.Status()).Send(body)
}
