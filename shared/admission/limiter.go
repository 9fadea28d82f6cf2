// Package admission decides at once whether a replica takes a request in or
// sheds it: an adaptive concurrency limit with priority classes, after the
// gradient limiters of Netflix's concurrency-limits (Gradient2) and Envoy's
// adaptive concurrency filter. It is plain Go: the HTTP edge asks Acquire
// before a request does any work and reports when it is done.
//
// The limit is the number of requests in flight. Every Window (once at
// least MinSamples requests finished in it), the median latency of each
// class in the window is compared with that class's baseline, its latency
// when the replica is not queueing:
//
//	gradient = clamp(Tolerance × least over classes of baseline/median, 0.5, 2)
//	limit    = (1-Smoothing)·limit + Smoothing·(limit·gradient + √limit)
//
// clamped to [MinLimit, MaxLimit]. While latency stays well within
// Tolerance of the baseline the limit grows, by up to a fifth a window at
// the default Smoothing; once requests queue (for the CPU, or for an
// upstream) latency rises, the gradient falls under 1 and so does the
// limit, by at most a tenth a window. It settles where latency is about
// Tolerance times the baseline (or up to Tolerance² times when more
// concurrency does not raise it: see below). A window in which nothing
// was shed and in-flight requests stayed under half the limit leaves the
// limit alone: a replica that is not busy learns nothing about its
// capacity.
//
// The baseline must be measured without queueing, which a replica busy for
// long never is. So, as Envoy does, a busy replica probes: at its first
// busy window, every ProbeInterval of being busy, and soon again when the
// limit is down at MinLimit and latency still says queueing (a baseline
// that no longer holds: an upstream slower for good, or a CPU busy with
// what is shed), it holds the limit at MinLimit for one window and takes
// each class's median latency then, at low concurrency, as that class's
// baseline. Between probes a baseline follows a lower median within a
// window or two, down to the probed one over Tolerance, and a higher one
// over BaselineWindows windows, up to Tolerance times the probed one.
// Baselines are kept per class, and the class slowed down most speaks for
// the replica, so that a change of mix (more checkouts, slower by nature)
// is not taken for queueing. A class with fewer than five requests in a
// window gathers them over the next ones (up to ten windows) and speaks
// meanwhile with its last judgement, so that a few checkouts a second
// still count.
//
// Not every rise of latency with concurrency is queueing: concurrent reads
// of one product share one upstream call, so beyond a few dozen in flight
// more of them wait about as long while more are served; an upstream
// slower whatever the load is the same. A limit held to Tolerance times
// the latency a probe measured at MinLimit would starve such a replica.
// So when the latency holds the limit down, the limiter also probes
// upward (stretch.go), for the classes it sheds: it raises the limit by
// half, puts it back, and raises it again, each for a settling and a
// measuring window, and keeps the higher limit only if the median latency
// of those classes rose by less than a third as much both times (queueing
// raises it in proportion) while every other class stayed within
// Tolerance of its baseline. Each class it held back then takes that
// latency as its baseline, raised by at most half and never beyond
// Tolerance times the probed one, so that its latency stays within about
// Tolerance² of the unqueued one. A stretch that shows queueing is given
// back, and the next waits twice as long.
//
// Classes share the limit by priority: a request of class c is admitted
// while fewer than share(c) × limit requests of any class are in flight
// (AnonymousShare, AuthenticatedShare, 1 for Checkout). Under overload the
// lowest class is shed first and a checkout always finds the last places
// free: the places no lower class may fill (the limit less the signed-in
// share, at least one) are the checkouts' own even when the requests in
// flight exceed the limit, as they do for a while after it fell or when a
// probe holds it at MinLimit. Nothing waits: a request over its share is
// refused at once, and the caller answers it with a 503 and Retry-After.
package admission

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Class is a request's priority; a higher class may fill more of the limit.
type Class int

// The classes, lowest first.
const (
	// Anonymous is a request of a caller not identified: catalog reads,
	// login. It is shed first.
	Anonymous Class = iota
	// Authenticated is a signed-in user's read.
	Authenticated
	// Checkout is an order being placed; it may fill the whole limit.
	Checkout

	numClasses = 3
)

var classNames = [numClasses]string{"anonymous", "authenticated", "checkout"}

// Classes are the names of every class, lowest first.
func Classes() []string { return append([]string(nil), classNames[:]...) }

// String is the class's name, as metrics label it.
func (c Class) String() string {
	if c < 0 || c >= numClasses {
		return "unknown"
	}
	return classNames[c]
}

// Option gives a Limiter a collaborator.
type Option func(*Limiter)

// WithClock makes the Limiter read the time from now, so that tests move
// through windows and latencies without sleeping. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(l *Limiter) { l.now = now }
}

// Limiter is an adaptive concurrency limit shared by every request of a
// replica. It is safe for concurrent use; Acquire takes no lock.
type Limiter struct {
	cfg    Config
	now    func() time.Time
	shares [numClasses]float64

	inFlight atomic.Int64
	limit    atomic.Int64
	// caps[c] is the most requests in flight at which one of class c is
	// still admitted, the limit times its share.
	caps [numClasses]atomic.Int64
	// checkouts counts the checkouts in flight; reserve is how many of
	// them are admitted whatever else is in flight.
	checkouts, reserve atomic.Int64
	// shed records, per class, that a request was refused in the current
	// window.
	shed [numClasses]atomic.Bool

	mu       sync.Mutex
	estimate float64              // the limit before rounding, probes and stretches aside
	baseline [numClasses]float64  // per class, in nanoseconds; 0 until measured
	win      window               // the samples of the current window
	hist     [numClasses]*latency // the current window's latencies per class
	// probing says the current window measures the baselines at MinLimit,
	// from the requests admitted since it started; nextProbe is when a
	// busy replica probes again (the zero time: at its first busy window),
	// probed when it last did.
	probing           bool
	nextProbe, probed time.Time
	// probedBase is each class's baseline as the last probe measured it.
	probedBase [numClasses]float64
	// ratios are each class's baseline/median when last judged.
	ratios  [numClasses]judgement
	stretch stretch
}

// judgement is a class's baseline/median when last judged, age windows
// ago; 0 before the first.
type judgement struct {
	value float64
	age   int
}

// window is what the current window has gathered besides the latencies.
type window struct {
	start   time.Time
	samples int
	// peak is the most requests in flight when one of the window's was
	// admitted; peaks the same per class of the request admitted.
	peak  int64
	peaks [numClasses]int64
	// length is the least time the window lasts.
	length time.Duration
}

// New returns a Limiter at cfg.InitialLimit. It panics when cfg does not
// validate, a wiring mistake: the BFF validates its settings first.
func New(cfg Config, opts ...Option) *Limiter {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	l := &Limiter{cfg: cfg, now: time.Now, shares: [numClasses]float64{cfg.AnonymousShare, cfg.AuthenticatedShare, 1}}
	for _, o := range opts {
		o(l)
	}
	for c := range l.hist {
		l.hist[c] = new(latency)
	}
	l.setLimit(float64(cfg.InitialLimit))
	l.newWindow(l.now())
	return l
}

// Limit is the current limit: the most requests in flight at once.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight is the number of requests admitted and not done yet.
func (l *Limiter) InFlight() int { return int(l.inFlight.Load()) }

// RetryAfter is how long a shed client should wait: RetryAfter plus up to
// as much again, in whole seconds at random (Retry-After counts seconds),
// so that shed clients spread their return.
func (l *Limiter) RetryAfter() time.Duration {
	secs := l.cfg.RetryAfter / time.Second
	return l.cfg.RetryAfter + rand.N(secs+1)*time.Second
}

// Ticket is an admitted request's place. Exactly one of Done and Ignore
// must be called once the request is over.
type Ticket struct {
	l     *Limiter
	class Class
	start time.Time
	// inFlight counts the requests in flight once this one was admitted.
	inFlight int64
}

// Acquire admits a request of class c, or reports false at once when the
// requests in flight already fill c's share of the limit. A refused
// request holds nothing.
func (l *Limiter) Acquire(c Class) (Ticket, bool) {
	if c < 0 || c >= numClasses {
		c = Anonymous
	}
	if c == Checkout {
		for k := l.checkouts.Load(); k < l.reserve.Load(); k = l.checkouts.Load() {
			if l.checkouts.CompareAndSwap(k, k+1) {
				return Ticket{l: l, class: c, start: l.now(), inFlight: l.inFlight.Add(1)}, true
			}
		}
	}
	limit := l.caps[c].Load()
	for {
		n := l.inFlight.Load()
		if n >= limit {
			if !l.shed[c].Load() {
				l.shed[c].Store(true)
			}
			return Ticket{}, false
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			if c == Checkout {
				l.checkouts.Add(1)
			}
			return Ticket{l: l, class: c, start: l.now(), inFlight: n + 1}, true
		}
	}
}

// Done frees the request's place and takes its latency, from Acquire to
// now, as a measure of the replica's load.
func (t Ticket) Done() {
	t.release()
	t.l.record(t, t.l.now())
}

// Ignore frees the request's place without taking its latency: for an
// answer that says nothing about this replica's load, such as an upstream
// refusing at once.
func (t Ticket) Ignore() { t.release() }

func (t Ticket) release() {
	if t.class == Checkout {
		t.l.checkouts.Add(-1)
	}
	t.l.inFlight.Add(-1)
}

// record adds one finished request to the window, and computes the limit
// again once the window is complete.
func (l *Limiter) record(t Ticket, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probing && (t.start.Before(l.win.start) || t.inFlight > int64(l.cfg.MinLimit)) {
		// Admitted before the probe, or by the checkouts' reserve with
		// more in flight than the probe's limit: not a measure of latency
		// at MinLimit.
		return
	}
	if l.stretch.step != stretchOff && now.Sub(l.win.start) > stretchTimeout*l.stretch.length {
		l.endStretch(now, now.Add(stretchWindows*l.cfg.Window))
	}
	if l.stretch.measuring() && t.start.Before(l.stretch.since) {
		return // admitted under the limit before this step's
	}
	l.hist[t.class].add(now.Sub(t.start))
	l.win.samples++
	l.win.peak = max(l.win.peak, t.inFlight)
	l.win.peaks[t.class] = max(l.win.peaks[t.class], t.inFlight)
	if l.win.samples < l.cfg.MinSamples || now.Sub(l.win.start) < l.win.length {
		return
	}
	switch {
	case l.probing:
		l.endProbe(now)
	case l.stretch.step != stretchOff:
		l.stretchWindow(now)
	default:
		l.update(now)
	}
}

// fastFollow is how much of the way to a lower median a baseline moves in
// one window.
const fastFollow = 0.5

// The gradient's bounds, Envoy's: one window takes at most
// Smoothing × (1 - minGradient) off the limit, and adds at most
// Smoothing × (maxGradient - 1) to it.
const minGradient, maxGradient = 0.5, 2

// floorProbeWindows is how many windows after a probe a limit at its floor
// probes again.
const floorProbeWindows = 10

// minClassSamples is the least number of a class's requests in a window
// for its median to count, unless no class has as many.
const minClassSamples = 5

// update computes the limit from the window that ends at now and starts
// the next one, or a probe when the replica is busy and one is due. l.mu is
// held.
func (l *Limiter) update(now time.Time) {
	medians := l.medians()
	judged := l.judged()
	ratio, over := l.judge(judged)
	shed := l.takeShed()
	busy := shed != [numClasses]bool{} || float64(l.win.peak) >= l.estimate/2
	// A limit down at its floor that still sees queueing may be measuring
	// against a baseline that no longer holds (the CPU busy with what is
	// shed, an upstream slower for good): it probes again soon rather than
	// starve the replica until the next ProbeInterval.
	floored := l.estimate <= float64(l.cfg.MinLimit) && now.Sub(l.probed) >= floorProbeWindows*l.cfg.Window
	switch {
	case busy && (!now.Before(l.nextProbe) || floored):
		l.probing = true
		l.setCaps(int64(l.cfg.MinLimit))
	case busy:
		gradient := min(maxGradient, max(minGradient, l.cfg.Tolerance*ratio))
		if gradient < 1 && l.stretchLimit(now, medians, over, shed) {
			return
		}
		next := l.estimate*gradient + math.Sqrt(l.estimate)
		l.setLimit((1-l.cfg.Smoothing)*l.estimate + l.cfg.Smoothing*next)
	}
	if l.probing {
		l.newWindow(now)
	} else {
		l.nextWindow(now, judged)
	}
}

// judge compares each class's median latency in the window with its
// baseline, moves the baseline towards it, and returns ratio, the least
// baseline/median of the classes, judged in the window or, for a sparse
// one, as last judged (the class slowed down most speaks for the replica,
// so that a class whose baseline was learnt under load cannot hide the
// queueing the others see), and over, the classes whose latency is beyond
// Tolerance times their baseline.
func (l *Limiter) judge(judged [numClasses]bool) (ratio float64, over [numClasses]bool) {
	ratio = math.Inf(1)
	for c, h := range l.hist {
		if !judged[c] {
			// A sparse class speaks with its last judgement for as long
			// as it gathers the next one.
			if l.ratios[c].age++; l.ratios[c].age < sparseWindows && l.ratios[c].value > 0 {
				ratio = min(ratio, l.ratios[c].value)
				over[c] = l.cfg.Tolerance*l.ratios[c].value < 1
			}
			continue
		}
		short := float64(h.median())
		long := l.baseline[c]
		if long == 0 {
			long = short
		}
		l.ratios[c] = judgement{value: long / short}
		ratio = min(ratio, long/short)
		over[c] = l.cfg.Tolerance*long < short
		if short < long {
			// A fast follow, down to the probed one over Tolerance:
			// below, windows of answers that cost nothing (a flood of
			// cheap ones) would make the class's real work look queued.
			l.baseline[c] = long + (short-long)*fastFollow
			if p := l.probedBase[c]; p > 0 {
				l.baseline[c] = max(l.baseline[c], min(long, p/l.cfg.Tolerance))
			}
		} else {
			// A slow rise, up to Tolerance times what the last probe
			// measured: beyond, the next probe says.
			l.baseline[c] = long + (short-long)/float64(l.cfg.BaselineWindows)
			if p := l.probedBase[c]; p > 0 {
				l.baseline[c] = min(l.baseline[c], max(long, l.cfg.Tolerance*p))
			}
		}
	}
	return ratio, over
}

// sparseWindows is how many windows a class with too few requests to be
// judged gathers them over: a few checkouts a second are judged every
// few windows rather than never.
const sparseWindows = 10

// judged are the classes a window speaks for: those with minClassSamples
// requests or more, or the one with most when none has as many. l.mu is
// held.
func (l *Limiter) judged() (judged [numClasses]bool) {
	most := -1
	for c, h := range l.hist {
		judged[c] = h.n >= minClassSamples
		if h.n > 0 && (most < 0 || h.n > l.hist[most].n) {
			most = c
		}
	}
	if judged == [numClasses]bool{} && most >= 0 {
		judged[most] = true
	}
	return judged
}

// nextWindow starts the window after an ordinary one at now: the classes
// not judged keep their samples, for up to sparseWindows windows. l.mu is
// held.
func (l *Limiter) nextWindow(now time.Time, judged [numClasses]bool) {
	for c, h := range l.hist {
		if h.windows++; judged[c] || h.windows >= sparseWindows {
			h.reset()
		}
	}
	l.win = window{start: now, peak: l.inFlight.Load(), length: l.cfg.Window}
}

// endProbe takes the medians of the probe's window as the baselines of
// the classes it measured, and gives the limit back. l.mu is held.
func (l *Limiter) endProbe(now time.Time) {
	for c, h := range l.hist {
		// A class the probe saw too little of keeps its baseline: in a
		// probe window shorter than the class's latency, the few of its
		// requests that finish may be its fastest (a checkout replayed
		// from its record), and a baseline set by one of them would hold
		// the limit at its floor.
		if h.n >= minClassSamples {
			l.baseline[c] = float64(h.median())
			l.probedBase[c] = l.baseline[c]
		}
	}
	// The baselines start again from the unqueued latency: an upward
	// probe is due soon to learn again what more concurrency costs, once
	// the limit given back has settled.
	l.stretch.backoff, l.stretch.next = 0, now.Add(stretchWindows*l.cfg.Window)
	l.ratios = [numClasses]judgement{}
	l.probing = false
	l.probed, l.nextProbe = now, now.Add(l.cfg.ProbeInterval)
	l.takeShed()
	l.setLimit(l.estimate)
	l.newWindow(now)
}

// takeShed reports, per class, whether requests were shed since the last
// call, and forgets them.
func (l *Limiter) takeShed() (shed [numClasses]bool) {
	for c := range l.shed {
		shed[c] = l.shed[c].Swap(false)
	}
	return shed
}

// newWindow starts a window at now. l.mu is held.
func (l *Limiter) newWindow(now time.Time) {
	for _, h := range l.hist {
		h.reset()
	}
	l.win = window{start: now, peak: l.inFlight.Load(), length: l.cfg.Window}
}

// setLimit makes estimate the limit, within MinLimit and MaxLimit.
func (l *Limiter) setLimit(estimate float64) {
	l.estimate = min(float64(l.cfg.MaxLimit), max(float64(l.cfg.MinLimit), estimate))
	l.setCaps(int64(l.estimate))
}

// setCaps makes limit the one Acquire applies: each class's cap is its
// share of it, at least one request.
func (l *Limiter) setCaps(limit int64) {
	l.limit.Store(limit)
	for c, share := range l.shares {
		l.caps[c].Store(max(1, int64(share*float64(limit))))
	}
	l.reserve.Store(max(1, limit-l.caps[Authenticated].Load()))
}

// latency counts durations in buckets of an eighth of a power of two (a
// value read back is within 7% of the true one), exact below 8 ns: a fixed
// 4 KiB whatever the traffic.
type latency struct {
	counts [64 << subBits]uint32
	n      int
	// windows is how many windows before the current one the samples
	// were gathered over.
	windows int
}

const subBits = 3

func (h *latency) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
}

func (h *latency) reset() { *h = latency{} }

// median is the middle value (the lower one of an even count).
func (h *latency) median() time.Duration {
	rank, seen := (h.n+1)/2, 0
	for i, c := range h.counts {
		if seen += int(c); seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h.counts) - 1)
}

func bucketOf(d time.Duration) int {
	u := uint64(max(d, 1))
	if u < 1<<subBits {
		return int(u)
	}
	e := bits.Len64(u) - 1 // ≥ subBits
	return (e-subBits+1)<<subBits + int(u>>(e-subBits))&(1<<subBits-1)
}

// bucketValue is the middle of bucket i's range.
func bucketValue(i int) time.Duration {
	if i < 1<<subBits {
		return time.Duration(i)
	}
	e := i>>subBits + subBits - 1
	low := uint64(1<<subBits+i&(1<<subBits-1)) << (e - subBits)
	return time.Duration(low + uint64(1)<<(e-subBits)/2)
}
