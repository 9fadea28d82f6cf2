package httpserver

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

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

// rateLimitBudget bounds a rate-limit check: a shared store that has not
// answered within it (a Redis that stopped answering, a failover) is taken
// as down, and the request goes on unmetered rather than spend its own
// deadline, and its admission place, waiting.
const rateLimitBudget = 100 * time.Millisecond

// rateLimitCooldown is how long a check that failed leaves the store alone:
// the requests meanwhile go on unmetered at once, and one of the next
// tries it again.
const rateLimitCooldown = time.Second

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
			key = s.clientKey(c)
		}
		d, err := s.take(c, l, p, key)
		if err != nil {
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

// take is l.Take within rateLimitBudget, unless a check failed less than
// rateLimitCooldown ago. A failure is counted and logged, and starts the
// cooldown unless the request's own context ended first.
func (s *Server) take(c *fiber.Ctx, l Limiter, p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	if now := time.Now().UnixNano(); now < s.limitsDownUntil.Load() {
		s.metrics.RateLimitUnapplied(p.Name)
		return ratelimit.Decision{}, errLimitsResting
	}
	parent := c.UserContext()
	ctx, cancel := context.WithTimeout(parent, rateLimitBudget)
	d, err := l.Take(ctx, p, key)
	cancel()
	if err != nil {
		if parent.Err() == nil {
			s.limitsDownUntil.Store(time.Now().Add(rateLimitCooldown).UnixNano())
		}
		s.metrics.RateLimitUnapplied(p.Name)
		s.logger.Warn("rate limit not applied", "request_id", requestIDOf(c), "trace_id", TraceID(parent), "policy", p.Name, "err", err)
	}
	return d, err
}

// errLimitsResting is take's answer while a failed check's cooldown lasts.
var errLimitsResting = errors.New("httpserver: rate-limit store resting after a failure")

// clientKey is what an anonymous caller's rate limits count by: its
// address (see rateKeyAddr), written straight after its prefix, one
// allocation; or, when the trusted proxy header names the client in a way
// that reads as no address ("unknown", an obfuscated RFC 7239 node), that
// name, so that such clients are not all taken for the proxy.
func (s *Server) clientKey(c *fiber.Ctx) string {
	var buf [len("ip:") + len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]byte
	if s.cfg.ClientIPHeader != "" {
		// The last line: a proxy may add its own line rather than extend
		// the client's.
		if lines := c.Request().Header.PeekAll(s.cfg.ClientIPHeader); len(lines) > 0 {
			last := lastHop(string(lines[len(lines)-1]))
			if a, ok := hopAddr(last); ok {
				return string(rateKeyAddr(a).AppendTo(append(buf[:0], "ip:"...)))
			}
			return "hop:" + last[:min(len(last), maxHopName)]
		}
	}
	// The peer's address as net.IP prints it: an IPv4 address in its
	// dotted form, whether the socket gave 4 or 16 bytes.
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return string(rateKeyAddr(a.Unmap()).AppendTo(append(buf[:0], "ip:"...)))
}

// maxHopName bounds the name of a client its proxy gave as no address.
const maxHopName = 64

// lastHop is the last element of a proxy header's line, the one the proxy
// in front of the BFF appended (those before it are whatever the client
// claimed), trimmed: of X-Forwarded-For, an address; of Forwarded (RFC
// 7239), the value of its for parameter, unquoted.
func lastHop(line string) string {
	if i := strings.LastIndexByte(line, ','); i >= 0 {
		line = line[i+1:]
	}
	for pair := range strings.SplitSeq(line, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(name, "for") {
			line = strings.Trim(value, `"`)
			break
		}
	}
	return strings.TrimSpace(line)
}

// hopAddr reads a proxy's name for its client as an address, with or
// without a port, an IPv6 one in brackets or bare.
func hopAddr(hop string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	if inner, ok := strings.CutPrefix(hop, "["); ok {
		if a, err := netip.ParseAddr(strings.TrimSuffix(inner, "]")); err == nil && strings.HasSuffix(inner, "]") {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
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
