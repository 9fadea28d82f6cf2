package httpserver

import (
	"context"
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
// policy; each also applies admission control (see Guard) in the class of
// the route's callers, but Catalog, whose routes Public admits.
type Limits struct {
	// Default goes on every API route without a stricter policy.
	Default fiber.Handler
	// Public goes first on the public reads (the catalog), before anything
	// identifies their caller: admission control in the Anonymous class
	// whoever calls, so that browsing is shed before signed-in users' own
	// reads and checkouts, and a shed read costs no token verification
	// and no session look-up.
	Public fiber.Handler
	// Catalog goes on the public reads once their caller is identified
	// (see OptionalUser), after Public: Default's quota, counted per user
	// for a signed-in caller.
	Catalog fiber.Handler
	// Login goes on the routes that check a password.
	Login fiber.Handler
	// Orders goes on order creation; a retry of a checkout already
	// journaled, by its Idempotency-Key, spends no quota (see GuardFirst).
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
// problem and Retry-After, and counted. When the limiter fails, the
// replica's own buckets decide (see take): a broken shared store must not
// take the API down with it, nor switch the limits off. A policy that
// limits nothing returns a middleware that does nothing.
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
// as down, rather than spend the request's own deadline, and its admission
// place, waiting.
const rateLimitBudget = 100 * time.Millisecond

// rateLimitRest is how long the shared store is left alone after a check
// failed: meanwhile the replica's own buckets meter every request, and
// when it ends one request tries the store again.
const rateLimitRest = time.Second

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

// take is l.Take within rateLimitBudget. While the store fails, or rests
// after a failure, the replica's own buckets decide instead, as they do
// without a shared store: quotas then count per replica, but always count,
// so that no client can switch them off by slowing the store down. A
// failure is logged once a rest (about once a second while it lasts), and
// each request the replica meters alone is counted.
func (s *Server) take(c *fiber.Ctx, l Limiter, p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	if m, local := l.(*ratelimit.Memory); local {
		// Buckets in this process: nothing to wait for, nor to fall back
		// from.
		return m.Take(c.UserContext(), p, key)
	}
	seen, ok := s.tryStore()
	if !ok {
		return s.takeLocally(p, key)
	}
	parent := c.UserContext()
	ctx, cancel := context.WithTimeout(parent, rateLimitBudget)
	d, err := l.Take(ctx, p, key)
	cancel()
	switch {
	case err == nil:
		// Ends the rest this request tried the store for, not one that
		// another request's failure started meanwhile.
		s.limitsRestUntil.CompareAndSwap(seen, 0)
		return d, nil
	case parent.Err() != nil:
		// The request's own end, not the store's failure.
		return s.takeLocally(p, key)
	}
	if was := s.limitsRestUntil.Swap(int64(time.Since(s.born) + rateLimitRest)); was == 0 || was == seen {
		s.logger.Warn("rate limits counted by this replica alone", "request_id", requestIDOf(c), "trace_id", TraceID(parent),
			"policy", p.Name, "for", rateLimitRest.String(), "err", err)
	}
	return s.takeLocally(p, key)
}

// tryStore reports whether a check may use the shared store, and the rest
// it saw: none (0), or one that has ended, which this request, the only
// one, tries the store again for (the others rest on meanwhile).
func (s *Server) tryStore() (seen int64, ok bool) {
	until := s.limitsRestUntil.Load()
	if until == 0 {
		return 0, true
	}
	now := int64(time.Since(s.born))
	next := now + int64(rateLimitRest)
	if now >= until && s.limitsRestUntil.CompareAndSwap(until, next) {
		return next, true
	}
	return 0, false
}

// takeLocally is the replica's own decision for key under p.
func (s *Server) takeLocally(p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	s.metrics.RateLimitLocal(p.Name)
	return s.localLimits.Take(context.Background(), p, key)
}

// clientKey is what an anonymous caller's rate limits count by: its
// address (see rateKeyAddr), written straight after its prefix, one
// allocation. The address is the trusted proxy header's, when it gives
// one, else the connection's: a client the proxy names otherwise
// ("unknown", an obfuscated RFC 7239 node) is counted as the proxy, never
// by a name a client could vary.
func (s *Server) clientKey(c *fiber.Ctx) string {
	var buf [len("ip:") + len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]byte
	a, ok := s.proxiedAddr(c)
	if !ok {
		// The peer's address as net.IP prints it: an IPv4 address in its
		// dotted form, whether the socket gave 4 or 16 bytes.
		a, _ = netip.AddrFromSlice(c.Context().RemoteIP())
		a = a.Unmap()
	}
	return string(rateKeyAddr(a).AppendTo(append(buf[:0], "ip:"...)))
}

// proxiedAddr is the client's address in the trusted proxy header, if the
// server has one and it gives an address: the last element of its last
// line (a proxy may add its own line rather than extend the client's), the
// one the proxy in front of the BFF appended; those before it are
// whatever the client claimed.
func (s *Server) proxiedAddr(c *fiber.Ctx) (netip.Addr, bool) {
	if s.cfg.ClientIPHeader == "" {
		return netip.Addr{}, false
	}
	lines := c.Request().Header.PeekAll(s.cfg.ClientIPHeader)
	if len(lines) == 0 {
		return netip.Addr{}, false
	}
	line := string(lines[len(lines)-1])
	if strings.EqualFold(s.cfg.ClientIPHeader, "Forwarded") {
		return hopAddr(forwardedFor(line))
	}
	return hopAddr(strings.TrimSpace(line[strings.LastIndexByte(line, ',')+1:]))
}

// forwardedFor is the for parameter, unquoted, of the last element of a
// Forwarded line (RFC 7239), or "" without one. The last element is the
// proxy's, well-formed: it is found from the line's end, so that a quote
// the client left open before it cannot swallow it, and a comma or a
// semicolon inside its quoted strings separates nothing.
func forwardedFor(line string) string {
	start, quoted := 0, false
	for i := len(line) - 1; i >= 0; i-- {
		switch {
		case line[i] == '"' && !escaped(line, i):
			quoted = !quoted
		case !quoted && line[i] == ',':
			start = i + 1
		}
		if start > 0 {
			break
		}
	}
	elem, hop := line[start:], ""
	eachUnquoted(elem, ';', func(pair string) {
		name, value, ok := strings.Cut(pair, "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
			hop = unquote(strings.TrimSpace(value))
		}
	})
	return hop
}

// escaped reports whether the quote at s[i] is a quoted-pair: read from
// the line's end, it is when an odd number of backslashes stand before it
// (a quoted string's own backslashes come in pairs: "a\\" ends in one).
func escaped(s string, i int) bool {
	n := 0
	for i--; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// eachUnquoted calls fn with each part of s between the separators sep
// that stand outside a quoted string.
func eachUnquoted(s string, sep byte, fn func(part string)) {
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++ // the escaped character
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == sep:
			fn(s[start:i])
			start = i + 1
		}
	}
	fn(s[start:])
}

// unquote is s without the quotes and escapes of a quoted string, or s.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
