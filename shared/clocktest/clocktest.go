// Package clocktest provides a clock that tests move by hand, so that
// expiries, windows and token lifetimes pass without sleeping. It is test
// support: no production package imports it.
package clocktest

import (
	"sync"
	"time"
)

// Manual is a clock that moves only when told to. Its Now method satisfies
// every one-method clock interface of the code under test, and its method
// value (m.Now) every func() time.Time option. It is safe for concurrent
// use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Manual clock reading t.
func New(t time.Time) *Manual {
	return &Manual{now: t}
}

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

// Set moves the clock to t, backwards as well as forwards.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}
