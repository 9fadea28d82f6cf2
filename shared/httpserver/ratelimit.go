package httpserver

import (
	"context"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/ratelimit"
)

// Rate-limit fields of draft-ietf-httpapi-ratelimit-headers.
const (
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// Limiter decides whether one more request of a caller fits a policy;
// ratelimit.Memory is one.
type Limiter interface {
	Take(ctx context.Context, p ratelimit.Policy, key string) (ratelimit.Decision, error)
}

// Limits are the middleware a BFF mounts on its routes, one per rate-limit
// policy; each also applies admission control (see Guard), in the class of
// the route's callers.
type Limits struct {
	// Default goes on every API route without a stricter policy.
	Default fiber.Handler
	// Login goes on the routes that check a password.
	Login fiber.Handler
	// Orders goes on order creation.
	Orders fiber.Handler
	// Tokens goes on the routes that trade a credential the caller holds
	// without a bearer token (a refresh token, a session to end): Login's
	// quota per client address, but in the Authenticated class, so that an
	// anonymous flood does not shed the refreshes that keep signed-in
	// users signed in.
	Tokens fiber.Handler
	// Refused answers a request whose credential was refused; it charges
	// Login's quota (see Server.Refused).
	Refused Refusal
}

// RateLimit returns middleware that meters each caller under p: the
// authenticated user when a RequireUser before it identified one, the client
// address otherwise. Every answer of the route carries the RateLimit-Policy
// and RateLimit fields; a request over the quota is refused with a 429
// problem and Retry-After, and counted. When the limiter fails the request
// goes through: a broken shared store must not take the API down with it.
// A policy that limits nothing returns a middleware that does nothing.
func (s *Server) RateLimit(l Limiter, p ratelimit.Policy) fiber.Handler {
	quota := s.quota(l, p)
	return func(c *fiber.Ctx) error {
		if err := quota(c); err != nil {
			return err
		}
		return c.Next()
	}
}

// quota is RateLimit's check without going on to the next handler: it
// returns the 429 problem of a request over the quota, nil otherwise.
func (s *Server) quota(l Limiter, p ratelimit.Policy) func(c *fiber.Ctx) error {
	if l == nil || !p.Enabled() {
		return func(*fiber.Ctx) error { return nil }
	}
	policyField := p.Field()
	return func(c *fiber.Ctx) error {
		// The client's address is looked up only when no user is known,
		// and written straight after its prefix: one allocation, the key.
		var key string
		if user := UserID(c); user != "" {
			key = "user:" + user
		} else {
			var buf [len("ip:") + len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]byte
			key = string(rateKeyAddr(s.clientAddr(c)).AppendTo(append(buf[:0], "ip:"...)))
		}
		d, err := l.Take(c.UserContext(), p, key)
		if err != nil {
			s.logger.Warn("rate limit not applied", "request_id", requestIDOf(c), "trace_id", TraceID(c.UserContext()), "policy", p.Name, "err", err)
			return nil
		}
		c.Set(HeaderRateLimitPolicy, policyField)
		var field [64]byte
		c.Response().Header.SetBytesV(HeaderRateLimit, d.AppendField(field[:0], p))
		if !d.Allowed {
			s.metrics.RateLimited(p.Name)
			return &problem.Error{
				Code:       problem.CodeRateLimited,
				Detail:     "Too many requests; retry after the time in Retry-After.",
				RetryAfter: d.RetryAfter,
			}
		}
		return nil
	}
}

// clientAddr is the client's address: the connection's peer, or, when the
// server trusts a proxy header, the last address in it, the one the proxy
// in front of the BFF appended (the ones before it, in its line or in
// lines before it, are whatever the client claimed).
func (s *Server) clientAddr(c *fiber.Ctx) netip.Addr {
	if s.cfg.ClientIPHeader != "" {
		// The last line: a proxy may add its own line rather than extend
		// the client's.
		if lines := c.Request().Header.PeekAll(s.cfg.ClientIPHeader); len(lines) > 0 {
			h := string(lines[len(lines)-1])
			if i := strings.LastIndexByte(h, ','); i >= 0 {
				h = h[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil {
				return a.Unmap()
			}
		}
	}
	// The peer's address as net.IP prints it: an IPv4 address in its
	// dotted form, whether the socket gave 4 or 16 bytes.
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// rateKeyAddr is the part of a client's address its rate limits count by:
// the whole of an IPv4 address, the /64 of an IPv6 one, the least a
// network hands one subscriber, who could otherwise take a new address of
// it for every request.
func rateKeyAddr(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}
