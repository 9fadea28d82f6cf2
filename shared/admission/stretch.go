package admission

import "time"

// An upward probe (a stretch) runs in three steps, each a settling window
// (its samples dropped) then a measuring one: the limit stretchFactor
// times higher, measured against the window that started the stretch;
// back, measured again as the second reference; higher again, measured
// against that. Only a latency unmoved in both comparisons keeps the
// higher limit, so that one noisy window cannot.
type stretchStep int

const (
	stretchOff stretchStep = iota
	stretchUp
	stretchBack
	stretchUpAgain
)

// The upward probe's figures: it raises the limit by stretchFactor; the
// latency counts as unmoved when it rose by less than stretchSlack of
// that; after one that showed queueing the next waits twice as long as
// the one before, from stretchWindows windows up to maxStretchWindows.
const (
	stretchFactor     = 1.5
	stretchSlack      = 1.0 / 3
	stretchWindows    = 5
	maxStretchWindows = 64
)

// stretch is the state of the upward probe.
type stretch struct {
	step stretchStep
	// settled says the current step's settling window is over; since is
	// when the step's limit took effect: its measuring window takes only
	// requests admitted from then on.
	settled bool
	since   time.Time
	// length is the least length of each of the probe's windows.
	length time.Duration
	// ref is each class's median latency at the limit without the
	// stretch, 0 for a class with too few samples.
	ref [numClasses]float64
	// next is the soonest the next probe may start; backoff is how long
	// after one that showed queueing the next waits.
	next    time.Time
	backoff time.Duration
}

func (s *stretch) measuring() bool { return s.step != stretchOff && s.settled }

// stretchLimit starts an upward probe (see the package comment) when one
// is due, and reports whether it did. It is for classes the limit holds
// back: every class over its Tolerance (over) must have been shed in the
// window that just ended, or the limit is what keeps that class's
// latency down. medians are each class's in that window, 0 for one with
// too few samples: the first reference. A class whose latency is already
// over Tolerance² times its probed baseline is beyond what a stretch may
// keep. l.mu is held.
func (l *Limiter) stretchLimit(now time.Time, medians [numClasses]float64, over, shed [numClasses]bool) bool {
	if now.Before(l.stretch.next) || l.estimate*stretchFactor >= float64(l.cfg.MaxLimit)+1 {
		return false
	}
	longest := 0.0
	for c, m := range medians {
		if over[c] && !shed[c] || l.probedBase[c] > 0 && m > l.cfg.Tolerance*l.cfg.Tolerance*l.probedBase[c] {
			return false
		}
		longest = max(longest, m)
	}
	if longest == 0 {
		return false
	}
	l.stretch.ref = medians
	l.stretch.length = max(l.cfg.Window, time.Duration(longest))
	l.stretchStep(now, stretchUp)
	return true
}

// stretchStep starts step: its limit, then its settling window. l.mu is
// held.
func (l *Limiter) stretchStep(now time.Time, step stretchStep) {
	limit := l.estimate
	if step != stretchBack {
		limit *= stretchFactor
	}
	l.setCaps(int64(limit))
	l.stretch.step, l.stretch.settled, l.stretch.since = step, false, now
	l.newWindow(now)
	l.win.length = l.stretch.length
}

// stretchWindow ends a window of the upward probe. l.mu is held.
func (l *Limiter) stretchWindow(now time.Time) {
	if !l.stretch.settled {
		l.stretch.settled = true
		l.takeShed()
		l.newWindow(now)
		l.win.length = l.stretch.length
		return
	}
	switch step := l.stretch.step; {
	case step == stretchBack:
		l.stretch.ref = l.medians()
		l.stretchStep(now, stretchUpAgain)
	case !l.heldBack():
		// Nothing shed even with the room the stretch made: demand fell,
		// and this says nothing of queueing.
		l.endStretch(now, now.Add(stretchWindows*l.cfg.Window))
	case !l.unmoved():
		l.stretch.backoff = min(2*max(l.stretch.backoff, stretchWindows*l.cfg.Window/2), maxStretchWindows*l.cfg.Window)
		l.endStretch(now, now.Add(l.stretch.backoff))
	case step == stretchUp:
		l.stretchStep(now, stretchBack)
	default:
		l.keepStretch(now)
	}
}

// keepStretch makes the stretched limit the limit. Each class the limit
// still held back takes its latency now as its baseline, up to Tolerance
// times the probed one. The next probe may follow at once: the window
// after this one is at a steady limit. l.mu is held.
func (l *Limiter) keepStretch(now time.Time) {
	for c, h := range l.hist {
		if l.probedBase[c] > 0 && h.n >= minClassSamples && l.shed[c].Load() {
			raised := min(float64(h.median()), l.baseline[c]*stretchFactor, l.cfg.Tolerance*l.probedBase[c])
			l.baseline[c] = max(l.baseline[c], raised)
		}
	}
	l.stretch.backoff = 0
	l.estimate = min(float64(l.cfg.MaxLimit), l.estimate*stretchFactor)
	l.endStretch(now, now)
}

// endStretch ends the upward probe with the limit at l.estimate; the next
// may start at next. l.mu is held.
func (l *Limiter) endStretch(now, next time.Time) {
	l.stretch.step, l.stretch.next = stretchOff, next
	l.setLimit(l.estimate)
	l.takeShed()
	l.newWindow(now)
}

// heldBack reports whether the limit held a class back in the measuring
// window: some of it was shed still. l.mu is held.
func (l *Limiter) heldBack() bool {
	for c := range l.shed {
		if l.shed[c].Load() {
			return true
		}
	}
	return false
}

// unmoved reports whether the stretch left the latency where it was: the
// median latency of every class the limit held back (shed in the
// measuring window) rose by less than stretchSlack of the stretch, and
// every other class stayed within Tolerance times its baseline; at least
// one class measured both in the reference and now. l.mu is held.
func (l *Limiter) unmoved() bool {
	compared := false
	for c, h := range l.hist {
		ref := l.stretch.ref[c]
		if ref == 0 || h.n < minClassSamples {
			continue
		}
		compared = true
		limit := l.cfg.Tolerance * l.baseline[c]
		if l.shed[c].Load() {
			limit = ref * (1 + stretchSlack*(stretchFactor-1))
		}
		if float64(h.median()) > limit {
			return false
		}
	}
	return compared
}

// medians are each class's median latency in the current window, 0 for a
// class with fewer than minClassSamples. l.mu is held.
func (l *Limiter) medians() [numClasses]float64 {
	var m [numClasses]float64
	for c, h := range l.hist {
		if h.n >= minClassSamples {
			m[c] = float64(h.median())
		}
	}
	return m
}
