package sandbox

import "time"

// Clock tells the services the time. Tests inject a hand-moved clock
// (clocktest.Manual) so that reservations, holds and tokens expire without
// sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

// Now returns the wall-clock time in UTC, so that JSON timestamps do not
// depend on the host's zone.
func (realClock) Now() time.Time { return time.Now().UTC() }

// Interface guards.
var _ Clock = realClock{}
