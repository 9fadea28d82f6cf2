package admission

import (
	"errors"
	"fmt"
	"time"
)

// Config is the settings of a Limiter; DefaultConfig returns every default.
// Only the three limits are meant to be tuned per deployment; the rest shape
// the algorithm and are documented so that its behaviour can be followed.
type Config struct {
	// InitialLimit is the limit a replica starts with, before it has
	// measured anything. Default 100.
	InitialLimit int
	// MinLimit is the lowest the limit falls, however slow requests get: a
	// floor that keeps a replica serving (checkout then still has MinLimit
	// places, anonymous requests AnonymousShare of them). Default 20.
	MinLimit int
	// MaxLimit is the highest the limit rises, however fast requests are,
	// at most MaxMaxLimit. MinLimit = MaxLimit fixes the limit. Default
	// 1000.
	MaxLimit int
	// AnonymousShare is the part of the limit anonymous requests (catalog
	// reads, login) may fill: one is admitted while fewer than
	// AnonymousShare × limit requests of any class are in flight, so the
	// rest stays free for signed-in users and checkouts. Default 0.5.
	AnonymousShare float64
	// AuthenticatedShare is the same for a signed-in user's reads; a
	// checkout may fill the whole limit. Default 0.8.
	AuthenticatedShare float64
	// Window is the least time over which latencies are gathered before
	// the limit is computed again. Default 100ms.
	Window time.Duration
	// MinSamples is the least number of finished requests a window needs;
	// with fewer it lasts longer. Default 20.
	MinSamples int
	// Tolerance is how much slower than its baseline a class's median
	// latency may get, as a factor, before the limit falls: below it the
	// added latency is taken for noise or a change of load mix, beyond it
	// for requests queueing for the CPU or for an upstream. An upward
	// probe that shows more concurrency does not raise the latency may
	// take a baseline up to Tolerance times the probed one, so the latency
	// then stays within Tolerance². Default 2.
	Tolerance float64
	// Smoothing is the weight of a window's new estimate against the
	// current limit, 0 < Smoothing ≤ 1: at 0.2 a window can take at most a
	// tenth off the limit. Default 0.2.
	Smoothing float64
	// ProbeInterval is how often a busy replica measures its latency
	// without queueing again: for one window it admits no more than
	// MinLimit requests at once, and takes their median latency per class
	// as the baselines. So an upstream that became slower for good lowers
	// the limit until the next probe at most. Default 30s.
	ProbeInterval time.Duration
	// BaselineWindows is how many windows the latency baseline of a class
	// takes to follow a lasting rise between probes (an exponential
	// average), up to Tolerance times the probed one; it follows a fall
	// within a window or two. Default 600 (a minute of 100ms windows).
	BaselineWindows int
	// RetryAfter is the least delay a shed request is told to wait
	// (Retry-After); each refusal adds up to as much again, at random, so
	// that shed clients do not come back all at once. Default 1s.
	RetryAfter time.Duration
}

// MaxMaxLimit bounds MaxLimit: no more requests are in flight than a
// replica has connections, and its connection limit (HTTP_MAX_CONNS) is at
// most 2^20.
const MaxMaxLimit = 1 << 20

// DefaultConfig returns the defaults of every setting of a Limiter.
func DefaultConfig() Config {
	return Config{
		InitialLimit:       100,
		MinLimit:           20,
		MaxLimit:           1000,
		AnonymousShare:     0.5,
		AuthenticatedShare: 0.8,
		Window:             100 * time.Millisecond,
		MinSamples:         20,
		Tolerance:          2,
		Smoothing:          0.2,
		ProbeInterval:      30 * time.Second,
		BaselineWindows:    600,
		RetryAfter:         time.Second,
	}
}

// Validate reports the settings a Limiter cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.MinLimit < 1 || c.MinLimit > c.InitialLimit || c.InitialLimit > c.MaxLimit || c.MaxLimit > MaxMaxLimit {
		errs = append(errs, fmt.Errorf("admission: want 1 ≤ MinLimit ≤ InitialLimit ≤ MaxLimit ≤ %d, got %d, %d, %d",
			MaxMaxLimit, c.MinLimit, c.InitialLimit, c.MaxLimit))
	}
	if !(c.AnonymousShare > 0 && c.AnonymousShare <= c.AuthenticatedShare && c.AuthenticatedShare <= 1) {
		errs = append(errs, fmt.Errorf("admission: want 0 < AnonymousShare ≤ AuthenticatedShare ≤ 1, got %v, %v",
			c.AnonymousShare, c.AuthenticatedShare))
	}
	if c.Window <= 0 || c.MinSamples < 1 || c.ProbeInterval <= 0 || c.BaselineWindows < 1 {
		errs = append(errs, errors.New("admission: Window, MinSamples, ProbeInterval and BaselineWindows must be positive"))
	}
	if !(c.Tolerance >= 1) {
		errs = append(errs, fmt.Errorf("admission: Tolerance %v must be at least 1", c.Tolerance))
	}
	if !(c.Smoothing > 0 && c.Smoothing <= 1) {
		errs = append(errs, fmt.Errorf("admission: Smoothing %v must be in (0, 1]", c.Smoothing))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("admission: RetryAfter %v must be at least 1s (Retry-After counts seconds)", c.RetryAfter))
	}
	return errors.Join(errs...)
}
