// Package ratelimit meters callers with token buckets: a Policy is a named
// quota of requests per window, a Store decides whether one more request of
// a caller fits, and the fields of draft-ietf-httpapi-ratelimit-headers
// describe both to the client. It is plain Go: the HTTP edge picks the
// caller's key and writes the answer.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is a quota of Quota requests per Window for each caller, enforced as
// a token bucket holding at most Quota tokens and refilled at Quota/Window:
// a caller may spend the whole quota at once, and then gets one request per
// Window/Quota. It is comparable, so it can key a Store's buckets.
type Policy struct {
	// Name labels the policy in the RateLimit fields and in metrics
	// ("default", "login", "orders").
	Name string
	// Quota is the bucket's size: the requests a caller may send at once.
	// Zero means the policy limits nothing.
	Quota int
	// Window is how long an empty bucket takes to refill, in whole seconds
	// because the draft's w parameter is an integer.
	Window time.Duration
}

// Enabled reports whether p limits anything.
func (p Policy) Enabled() bool { return p.Quota > 0 }

// Validate reports a policy that cannot be enforced or written in the
// draft's fields.
func (p Policy) Validate() error {
	if p.Name == "" || strings.IndexFunc(p.Name, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) >= 0 {
		return fmt.Errorf("rate-limit policy %q: the name must be printable ASCII without quotes or backslashes", p.Name)
	}
	if p.Quota < 0 || p.Quota > MaxQuota {
		return fmt.Errorf("rate-limit policy %q: quota %d must be from 0 to %d", p.Name, p.Quota, MaxQuota)
	}
	if p.Quota > 0 && (p.Window < time.Second || p.Window%time.Second != 0) {
		return fmt.Errorf("rate-limit policy %q: window %v is not a whole number of seconds", p.Name, p.Window)
	}
	return nil
}

// MaxQuota is the largest quota: the largest integer of a structured field
// (RFC 9651), which the RateLimit fields carry it and what is left of it
// in, and far from the bucket arithmetic's overflow.
const MaxQuota = 999_999_999_999_999

// Field returns p as an item of the RateLimit-Policy field, in
// structured-field syntax: "orders";q=10;w=60.
func (p Policy) Field() string {
	return strconv.Quote(p.Name) + ";q=" + strconv.Itoa(p.Quota) + ";w=" + strconv.FormatInt(int64(p.Window/time.Second), 10)
}

// perSecond is the refill rate of p's buckets.
func (p Policy) perSecond() float64 { return float64(p.Quota) / p.Window.Seconds() }

// Decision is a Store's answer for one request.
type Decision struct {
	// Allowed says whether the request fits the quota; a refused request
	// costs nothing.
	Allowed bool
	// Remaining is how many more requests fit right now.
	Remaining int
	// Reset is how long until the bucket is full again, that is until the
	// whole quota is available.
	Reset time.Duration
	// RetryAfter is, for a refused request, how long until one request fits.
	RetryAfter time.Duration
}

// AppendField appends d to dst as an item of the RateLimit field for
// policy p, in structured-field syntax: "orders";r=9;t=6. Seconds are
// rounded up, so a client that waits t seconds finds the quota restored. A
// request answered with it needs no allocation of its own when dst has
// room.
func (d Decision) AppendField(dst []byte, p Policy) []byte {
	dst = strconv.AppendQuote(dst, p.Name)
	dst = strconv.AppendInt(append(dst, ";r="...), int64(d.Remaining), 10)
	return strconv.AppendInt(append(dst, ";t="...), Seconds(d.Reset), 10)
}

// Seconds rounds d up to whole seconds, the unit of Retry-After and of the
// draft's fields.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Store keeps the buckets and decides. Memory is the in-process one; a store
// shared by several replicas (Redis) implements the same method.
type Store interface {
	// Take spends one request of key's bucket under p when it fits.
	Take(ctx context.Context, p Policy, key string) (Decision, error)
}

// ErrPolicy wraps the error of Take for a policy that does not validate.
var ErrPolicy = errors.New("invalid rate-limit policy")
