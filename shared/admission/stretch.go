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
// the one before, from stretchWindows windows up to maxStretchWindows. A
// window of the probe that lasts stretchTimeout times its length (too few
// requests finish) ends it without a verdict.
const (
	stretchTimeout    = 4
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
	// held are the classes the limit held back when the probe started
	// (some of them were shed): the ones it speaks for.
	held [numClasses]bool
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
	longest, judged := 0.0, false
	for c, m := range medians {
		if over[c] && !shed[c] || l.probedBase[c] > 0 && m > l.cfg.Tolerance*l.cfg.Tolerance*l.probedBase[c] {
			return false
		}
		longest = max(longest, m)
		judged = judged || shed[c] && m > 0
	}
	if !judged {
		return false
	}
	l.stretch.ref, l.stretch.held = medians, shed
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
	case !l.roomUsed():
		// Demand did not fill the room the stretch made: it fell, and
		// this says nothing of queueing.
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
// held back takes its latency now as its baseline, raised by at most
// stretchFactor and up to Tolerance times the probed one. The next probe
// may follow at once: the window after this one is at a steady limit.
// l.mu is held.
func (l *Limiter) keepStretch(now time.Time) {
	for c, h := range l.hist {
		if l.stretch.held[c] && l.probedBase[c] > 0 && h.n >= minClassSamples {
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

// roomUsed reports whether a request of a class the stretch held back
// was admitted in the measuring window with more in flight than the limit
// without the stretch lets that class in: the room it made was used.
// l.mu is held.
func (l *Limiter) roomUsed() bool {
	for c, held := range l.stretch.held {
		if held && l.win.peaks[c] > max(1, int64(l.shares[c]*l.estimate)) {
			return true
		}
	}
	return false
}

// unmoved reports whether the stretch left the latency where it was: the
// median latency of each class the limit held back, measured enough in
// the reference and now, rose by less than stretchSlack of the stretch
// (at least one such class), and every other class with a baseline stayed
// within Tolerance times it, as the gradient asks, however few of its
// requests finished. l.mu is held.
func (l *Limiter) unmoved() bool {
	compared := false
	for c, h := range l.hist {
		if h.n == 0 {
			continue
		}
		median, ref := float64(h.median()), l.stretch.ref[c]
		switch {
		case l.stretch.held[c] && ref > 0 && h.n >= minClassSamples:
			compared = true
			if median > ref*(1+stretchSlack*(stretchFactor-1)) {
				return false
			}
		case l.baseline[c] > 0 && median > l.cfg.Tolerance*l.baseline[c]:
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
