package upstreamtest

import (
	"sync"
	"time"
)

// Clock tells the services the time. Tests inject a ManualClock so that
// reservations, holds and tokens expire without sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

// Now returns the wall-clock time in UTC, so that JSON timestamps do not
// depend on the host's zone.
func (realClock) Now() time.Time { return time.Now().UTC() }

// ManualClock is a Clock that moves only when told to. It is safe for
// concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Interface guards.
var (
	_ Clock = realClock{}
	_ Clock = (*ManualClock)(nil)
)
