package admission

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
)

// sim drives a Limiter on a manual clock in rounds: the requests offered
// in a round try to get in, in the order given, the clock moves by the
// latency the model gives for the number admitted, and they all finish.
type sim struct {
	l     *Limiter
	clock *clocktest.Manual
}

func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	return &sim{l: New(cfg, WithClock(clock.Now)), clock: clock}
}

// demand is n requests of a class offered in one round.
type demand struct {
	class Class
	n     int
}

// model is the latency of a round in which inFlight requests are served
// at once.
type model func(inFlight int) time.Duration

// fixed is a latency that does not depend on the load: an upstream's.
func fixed(d time.Duration) model { return func(int) time.Duration { return d } }

// queueing is a replica that serves capacity requests at once in base:
// beyond it, requests wait their turn.
func queueing(base time.Duration, capacity int) model {
	return func(n int) time.Duration { return base * time.Duration(max(capacity, n)) / time.Duration(capacity) }
}

// tally is what rounds admitted and shed, by class.
type tally struct {
	admitted, shed [numClasses]int
	// worst is the longest round.
	worst time.Duration
}

// run plays rounds for d of the sim's clock.
func (s *sim) run(d time.Duration, m model, demands ...demand) tally {
	return s.runClasses(d, func(n [numClasses]int) (lat [numClasses]time.Duration) {
		l := m(n[Anonymous] + n[Authenticated] + n[Checkout])
		return [numClasses]time.Duration{l, l, l}
	}, demands...)
}

// classModel is the latency of each class in a round in which inFlight
// requests of each class are served at once.
type classModel func(inFlight [numClasses]int) [numClasses]time.Duration

// runClasses plays rounds for d of the sim's clock, each class's requests
// finishing after its own latency, the shortest first.
func (s *sim) runClasses(d time.Duration, m classModel, demands ...demand) tally {
	var t tally
	end := s.clock.Now().Add(d)
	var tickets [numClasses][]Ticket
	for s.clock.Now().Before(end) {
		var n [numClasses]int
		for c := range tickets {
			tickets[c] = tickets[c][:0]
		}
		for _, dm := range demands {
			for range dm.n {
				tk, ok := s.l.Acquire(dm.class)
				if !ok {
					t.shed[dm.class]++
					continue
				}
				t.admitted[dm.class]++
				tickets[dm.class] = append(tickets[dm.class], tk)
				n[dm.class]++
			}
		}
		lat := m(n)
		order := []Class{Anonymous, Authenticated, Checkout}
		slices.SortFunc(order, func(a, b Class) int { return cmp.Compare(lat[a], lat[b]) })
		var elapsed time.Duration
		for _, c := range order {
			if len(tickets[c]) == 0 {
				continue
			}
			s.clock.Advance(lat[c] - elapsed)
			elapsed = lat[c]
			for _, tk := range tickets[c] {
				tk.Done()
			}
		}
		t.worst = max(t.worst, elapsed)
		if elapsed == 0 {
			s.clock.Advance(time.Millisecond) // nothing admitted: time still passes
		}
	}
	return t
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.InitialLimit, cfg.MinLimit, cfg.MaxLimit = 100, 10, 400
	return cfg
}

// TestSharesByPriority fills a fixed limit of 10 class by class: anonymous
// requests get half of it, signed-in reads up to 8 in flight, checkouts
// all 10; a place freed goes to whichever class still has room.
func TestSharesByPriority(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialLimit, cfg.MinLimit, cfg.MaxLimit = 10, 10, 10
	l := New(cfg)
	var held []Ticket
	steps := []struct {
		class Class
		n     int
		want  int // admitted of n
	}{
		{Anonymous, 7, 5},
		{Authenticated, 7, 3},
		{Checkout, 7, 2},
		{Anonymous, 1, 0},
		{Authenticated, 1, 0},
		{Checkout, 1, 0},
	}
	for i, st := range steps {
		got := 0
		for range st.n {
			if tk, ok := l.Acquire(st.class); ok {
				got++
				held = append(held, tk)
			}
		}
		if got != st.want {
			t.Errorf("step %d: %d %s requests admitted %d, want %d", i, st.n, st.class, got, st.want)
		}
	}
	if got := l.InFlight(); got != 10 {
		t.Errorf("in flight %d, want 10", got)
	}
	// Three places freed: in flight 7, under the signed-in share of 8 but
	// over the anonymous one of 5.
	for _, tk := range held[:3] {
		tk.Ignore()
	}
	free := []struct {
		class Class
		want  bool
	}{
		{Anonymous, false},
		{Authenticated, true},
		{Authenticated, false},
		{Checkout, true},
		{Checkout, true},
		{Checkout, false},
	}
	for i, f := range free {
		if _, ok := l.Acquire(f.class); ok != f.want {
			t.Errorf("after freeing, request %d (%s): admitted %v, want %v", i, f.class, ok, f.want)
		}
	}
}

// TestCheckoutsKeepTheirReserve: when the limit falls under the requests
// in flight (here a probe holding it at MinLimit while 80 signed-in reads
// admitted before are still running), checkouts still get the places no
// lower class may fill, and no more.
func TestCheckoutsKeepTheirReserve(t *testing.T) {
	cfg := testConfig() // limit 100, MinLimit 10: signed-in reads 8 of 10 at the floor
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	l := New(cfg, WithClock(clock.Now))
	var reads []Ticket
	for range 80 {
		tk, ok := l.Acquire(Authenticated)
		if !ok {
			t.Fatalf("signed-in read %d refused under its share of the initial limit", len(reads))
		}
		reads = append(reads, tk)
	}
	// A busy window's worth of finished checkouts: the first busy window
	// starts a probe.
	for range cfg.MinSamples {
		tk, ok := l.Acquire(Checkout)
		if !ok {
			t.Fatal("checkout refused with 81 of 100 in flight")
		}
		clock.Advance(cfg.Window / time.Duration(cfg.MinSamples))
		tk.Done()
	}
	if l.Limit() != cfg.MinLimit || l.InFlight() != 80 {
		t.Fatalf("limit %d with %d in flight, want a probe at %d with the 80 reads in flight", l.Limit(), l.InFlight(), cfg.MinLimit)
	}
	if _, ok := l.Acquire(Authenticated); ok {
		t.Error("signed-in read admitted with 80 in flight and a limit of 10")
	}
	var got []bool
	var reserved []Ticket
	for range 3 {
		tk, ok := l.Acquire(Checkout)
		got = append(got, ok)
		if ok {
			reserved = append(reserved, tk)
		}
	}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Errorf("three checkouts admitted %v, want the two places of the reserve (10 less the 8 of signed-in reads)", got)
	}
	// Admitted with 80 in flight, they say nothing of the latency at
	// MinLimit the probe measures.
	clock.Advance(time.Second)
	for _, tk := range reserved {
		tk.Done()
	}
	l.mu.Lock()
	samples := l.win.samples
	l.mu.Unlock()
	if samples != 0 {
		t.Errorf("the probe took %d samples from checkouts admitted over its limit, want none", samples)
	}
	for _, tk := range reads {
		tk.Ignore()
	}
}

// TestLatencyStep: with more offered than the limit, a jump of the
// latency (an upstream five times slower) brings the limit down, and it
// rises again once the latency is back.
func TestLatencyStep(t *testing.T) {
	s := newSim(t, testConfig())
	offered := demand{Checkout, 600}
	s.run(5*time.Second, fixed(10*time.Millisecond), offered)
	before := s.l.Limit()
	if before <= 100 {
		t.Fatalf("limit %d after 5s at a steady latency, want it above its initial 100", before)
	}
	s.run(3*time.Second, fixed(50*time.Millisecond), offered)
	slow := s.l.Limit()
	if slow > before/2 {
		t.Errorf("limit %d after 3s of a 5× latency, want at most half of %d", slow, before)
	}
	s.run(3*time.Second, fixed(10*time.Millisecond), offered)
	if back := s.l.Limit(); back < 2*slow {
		t.Errorf("limit %d 3s after the latency recovered, want at least twice %d", back, slow)
	}
}

// TestProbeLearnsANewNormal: an upstream that becomes five times slower
// for good brings the limit down; the next probe, ProbeInterval later,
// takes the slower latency for the replica's own, and the limit comes
// back.
func TestProbeLearnsANewNormal(t *testing.T) {
	cfg := testConfig()
	s := newSim(t, cfg)
	offered := demand{Checkout, 600}
	s.run(5*time.Second, fixed(10*time.Millisecond), offered)
	before := s.l.Limit()
	s.run(3*time.Second, fixed(50*time.Millisecond), offered)
	slow := s.l.Limit()
	if slow > before/2 {
		t.Fatalf("limit %d after 3s of a 5× latency, want at most half of %d", slow, before)
	}
	s.run(cfg.ProbeInterval, fixed(50*time.Millisecond), offered)
	if back := s.l.Limit(); back < 2*slow {
		t.Errorf("limit %d a probe later, the latency still 5×, want at least twice %d", back, slow)
	}
}

// TestConvergesUnderQueueing: a replica that serves 40 requests at once
// and queues the rest, offered far more from the start, ends with a limit
// near its capacity (within the tolerance), from far above or below, while
// the latency of what it admits stays within a few times its own: its
// first probe measured that latency although it was never idle, and no
// upward probe keeps a higher limit (more concurrency queues in
// proportion).
func TestConvergesUnderQueueing(t *testing.T) {
	const capacity, base = 40, 10 * time.Millisecond
	for _, initial := range []int{10, 400} {
		cfg := testConfig()
		cfg.InitialLimit = initial
		s := newSim(t, cfg)
		s.run(10*time.Second, queueing(base, capacity), demand{Checkout, 1000})
		tl := s.run(2*time.Second, queueing(base, capacity), demand{Checkout, 1000})
		if got := s.l.Limit(); got < capacity || got > 3*capacity {
			t.Errorf("from %d: limit %d after 12s, want %d..%d", initial, got, capacity, 3*capacity)
		}
		// An upward probe (stretchLimit) adds half for a few windows
		// now and then.
		if limit := time.Duration(3 * stretchFactor * float64(base)); tl.worst > limit {
			t.Errorf("from %d: a round took %v once converged, want at most %v", initial, tl.worst, limit)
		}
	}
}

// TestShedsByPriority: anonymous reads flood a replica while signed-in
// reads and a few checkouts come in every round: the lower the class, the
// more of it is shed, and checkouts only while a probe holds the limit at
// its minimum, a window every ProbeInterval.
func TestShedsByPriority(t *testing.T) {
	s := newSim(t, testConfig())
	tl := s.run(20*time.Second, queueing(10*time.Millisecond, 40),
		demand{Anonymous, 500}, demand{Authenticated, 50}, demand{Checkout, 5})
	var shed [numClasses]float64
	for c := range shed {
		shed[c] = float64(tl.shed[c]) / float64(tl.shed[c]+tl.admitted[c])
	}
	if !(shed[Anonymous] > shed[Authenticated] && shed[Authenticated] > shed[Checkout]) {
		t.Errorf("shed %.3f of anonymous, %.3f of signed-in reads, %.3f of checkouts; want less the higher the class",
			shed[Anonymous], shed[Authenticated], shed[Checkout])
	}
	if shed[Checkout] > 0.01 {
		t.Errorf("shed %.3f of checkouts, want at most 1%% (during probes only)", shed[Checkout])
	}
}

// TestRecoversWhenLoadDrops: after an overload, a load the replica can
// serve is admitted whole, at its own latency, and the limit does not
// collapse for want of demand.
func TestRecoversWhenLoadDrops(t *testing.T) {
	const capacity, base = 40, 10 * time.Millisecond
	s := newSim(t, testConfig())
	s.run(10*time.Second, queueing(base, capacity), demand{Anonymous, 1000})
	after := s.l.Limit()
	tl := s.run(5*time.Second, queueing(base, capacity), demand{Anonymous, capacity / 2})
	if tl.shed[Anonymous] != 0 {
		t.Errorf("%d of %d requests shed once the load dropped, want none", tl.shed[Anonymous], tl.shed[Anonymous]+tl.admitted[Anonymous])
	}
	if tl.worst != base {
		t.Errorf("latency %v once the load dropped, want %v", tl.worst, base)
	}
	if got := s.l.Limit(); got < after {
		t.Errorf("limit %d once the load dropped, want at least the %d it had", got, after)
	}
	if got := s.l.InFlight(); got != 0 {
		t.Errorf("in flight %d once every request finished, want 0", got)
	}
}

// TestIgnoredAnswersTeachNothing: requests answered at once for a reason
// unrelated to load (an upstream refusing) leave the limit where it was.
func TestIgnoredAnswersTeachNothing(t *testing.T) {
	s := newSim(t, testConfig())
	for range 1000 {
		var held []Ticket
		for range 200 {
			if tk, ok := s.l.Acquire(Checkout); ok {
				held = append(held, tk)
			}
		}
		s.clock.Advance(time.Millisecond)
		for _, tk := range held {
			tk.Ignore()
		}
	}
	if got := s.l.Limit(); got != 100 {
		t.Errorf("limit %d after ignored answers only, want the initial 100", got)
	}
}

func TestRetryAfterSpreads(t *testing.T) {
	l := New(DefaultConfig())
	seen := map[time.Duration]bool{}
	for range 200 {
		seen[l.RetryAfter()] = true
	}
	if len(seen) != 2 || !seen[time.Second] || !seen[2*time.Second] {
		t.Errorf("Retry-After values %v, want 1s and 2s", seen)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no minimum", func(c *Config) { c.MinLimit = 0 }, "MinLimit"},
		{"initial below minimum", func(c *Config) { c.InitialLimit = c.MinLimit - 1 }, "MinLimit ≤ InitialLimit"},
		{"maximum below initial", func(c *Config) { c.MaxLimit = c.InitialLimit - 1 }, "InitialLimit ≤ MaxLimit"},
		{"maximum beyond any connection count", func(c *Config) { c.MaxLimit = MaxMaxLimit + 1 }, "MaxLimit ≤ 1048576"},
		{"anonymous over signed-in", func(c *Config) { c.AnonymousShare = 0.9 }, "AnonymousShare ≤ AuthenticatedShare"},
		{"no anonymous share", func(c *Config) { c.AnonymousShare = 0 }, "0 < AnonymousShare"},
		{"share over the limit", func(c *Config) { c.AuthenticatedShare = 1.5 }, "AuthenticatedShare ≤ 1"},
		{"no window", func(c *Config) { c.Window = 0 }, "Window"},
		{"tolerance below 1", func(c *Config) { c.Tolerance = 0.9 }, "Tolerance"},
		{"no smoothing", func(c *Config) { c.Smoothing = 0 }, "Smoothing"},
		{"retry within a second", func(c *Config) { c.RetryAfter = 500 * time.Millisecond }, "RetryAfter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestBuckets(t *testing.T) {
	for _, d := range []time.Duration{1, 7, 8, 9, 100, 1234, time.Millisecond, 3*time.Second + 7, time.Hour} {
		got := bucketValue(bucketOf(d))
		if diff := float64(got-d) / float64(d); diff < -0.07 || diff > 0.07 {
			t.Errorf("%v reads back as %v, want within 7%%", d, got)
		}
	}
	var h latency
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Hour} {
		h.add(d)
	}
	if got := h.median(); got < 1900*time.Microsecond || got > 2100*time.Microsecond {
		t.Errorf("median of 1ms, 2ms and 1h = %v, want about 2ms", got)
	}
}

// coalescing is a replica whose requests share upstream calls: more in
// flight wait longer at first, as requests queue, then about as long
// however many more come, each call serving more of them.
func coalescing(floor, plateau time.Duration, keys int) model {
	return func(n int) time.Duration {
		return floor + time.Duration(float64(plateau)*(1-math.Exp(-float64(n)/float64(keys))))
	}
}

// TestStretchesPastALatencyMoreConcurrencyDoesNotRaise: under a flood of
// reads that share upstream calls, the latency at the floor's
// concurrency is a fraction of what it settles at, and a limit held to
// Tolerance times it would serve a dozen reads at once. Stretching the
// limit shows more concurrency costs little latency: the limit rises and
// the throughput with it, while the latency stays within Tolerance² times
// the probed one. When the latency it settles at is beyond that, the
// limit stops where the latency reaches it.
func TestStretchesPastALatencyMoreConcurrencyDoesNotRaise(t *testing.T) {
	cases := []struct {
		name     string
		floor    time.Duration
		keys     int
		minLimit int // at least, after 10s
	}{
		// 4 × m(5) = 108ms, over the 105ms it settles at.
		{"settles within Tolerance²", 5 * time.Millisecond, 20, 200},
		// 4 × m(5) = 51ms, reached at about 28 reads in flight; it
		// settles at 101ms.
		{"settles beyond Tolerance²", time.Millisecond, 40, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			m := coalescing(tc.floor, 100*time.Millisecond, tc.keys)
			probed := m(cfg.MinLimit / 2) // the anonymous share of the floor
			s := newSim(t, cfg)
			s.run(10*time.Second, m, demand{Anonymous, 600})
			if got := s.l.Limit(); got < tc.minLimit {
				t.Errorf("limit %d after 10s, want at least %d", got, tc.minLimit)
			}
			// Over the next seconds the limit, between stretches, keeps the
			// reads within about Tolerance² of the probed latency (the
			// limit's √limit growth and the median's buckets allow a
			// little more).
			for range 10 {
				s.run(500*time.Millisecond, m, demand{Anonymous, 600})
				if s.l.stretch.step != stretchOff {
					continue
				}
				if got, limit := m(s.l.Limit()/2), time.Duration(4.5*float64(probed)); got > limit {
					t.Fatalf("reads take %v at the limit %d, want at most Tolerance² × the probed %v", got, s.l.Limit(), probed)
				}
			}
		})
	}
}

// noisy is m with each round's latency off by up to a fifth either way,
// at random from seed.
func noisy(m model, seed uint64) model {
	r := rand.New(rand.NewPCG(seed, seed))
	return func(n int) time.Duration {
		return time.Duration(float64(m(n)) * (0.8 + 0.4*r.Float64()))
	}
}

// TestNoiseDoesNotStretchAQueue: a replica that queues beyond 40 requests
// at once, its latency noisy by a fifth from round to round, keeps a limit
// near its capacity. A stretch is kept only when the latency held in two
// comparisons, which noise alone seldom gives; and one kept on noise
// raises a baseline by at most a half, and never beyond Tolerance times
// the probed one. (The baseline's slow follow of the median alone takes it
// to about 1.55 times the probed one in 25s.)
func TestNoiseDoesNotStretchAQueue(t *testing.T) {
	const capacity, base, seeds = 40, 10 * time.Millisecond, 32
	var limits []int
	for seed := range uint64(seeds) {
		s := newSim(t, testConfig())
		s.run(25*time.Second, noisy(queueing(base, capacity), seed), demand{Checkout, 1000})
		limits = append(limits, s.l.Limit())
		if got := s.l.Limit(); got > 5*capacity {
			t.Errorf("seed %d: limit %d after 25s, want at most %d", seed, got, 5*capacity)
		}
		if b, p := s.l.baseline[Checkout], s.l.probedBase[Checkout]; b > 2.3*p {
			t.Errorf("seed %d: baseline %.1fms, want at most 2.3 × the probed %.1fms", seed, b/1e6, p/1e6)
		}
	}
	slices.Sort(limits)
	if median := limits[seeds/2]; median > 4*capacity {
		t.Errorf("median limit %d over %d seeds, want at most %d", median, seeds, 4*capacity)
	}
}

// TestStretchMindsEveryClass: anonymous reads that share upstream calls
// would let the limit rise, but checkouts, never shed, queue for the CPU
// with everything in flight: their latency vetoes the stretch, and stays
// within Tolerance times their probed one, however few checkouts there
// are.
func TestStretchMindsEveryClass(t *testing.T) {
	for _, checkouts := range []int{10, 2} {
		t.Run(fmt.Sprintf("%d checkouts a round", checkouts), func(t *testing.T) {
			testStretchMindsEveryClass(t, checkouts)
		})
	}
}

func testStretchMindsEveryClass(t *testing.T, checkouts int) {
	reads := coalescing(5*time.Millisecond, 100*time.Millisecond, 20)
	cpu := queueing(time.Millisecond, 40)
	m := func(n [numClasses]int) [numClasses]time.Duration {
		return [numClasses]time.Duration{reads(n[Anonymous]), 0, cpu(n[Anonymous] + n[Checkout])}
	}
	s := newSim(t, testConfig())
	s.runClasses(10*time.Second, m, demand{Anonymous, 600}, demand{Checkout, checkouts})
	if b, p := s.l.baseline[Checkout], s.l.probedBase[Checkout]; b > 1.6*p {
		t.Errorf("checkout baseline %.2fms, want at most 1.6 × the probed %.2fms", b/1e6, p/1e6)
	}
	s.runClasses(5*time.Second, m, demand{Anonymous, 600}, demand{Checkout, checkouts})
	// The limit holds the checkouts' latency near Tolerance times what
	// the probe measured; allow the stretches' half on top.
	worst := m([numClasses]int{Anonymous: s.l.Limit() / 2, Checkout: checkouts})[Checkout]
	if limit := time.Duration(2 * stretchFactor * s.l.probedBase[Checkout]); worst > limit {
		t.Errorf("checkouts take %v at the limit %d, want at most %v", worst, s.l.Limit(), limit)
	}
}

// TestAFlatSlowdownKeepsTheLimit: an upstream three times slower whatever
// the load (its latency does not depend on this replica's concurrency)
// no longer lowers the limit for good: the stretches show that fewer
// requests in flight would not be faster, only fewer, so the limit stays
// high. Beyond Tolerance² (TestLatencyStep's five times) it falls as
// before, until a probe learns the new latency.
func TestAFlatSlowdownKeepsTheLimit(t *testing.T) {
	s := newSim(t, testConfig())
	offered := demand{Checkout, 600}
	s.run(5*time.Second, fixed(10*time.Millisecond), offered)
	before := s.l.Limit()
	s.run(5*time.Second, fixed(30*time.Millisecond), offered)
	if got := s.l.Limit(); got < before*3/4 {
		t.Errorf("limit %d 5s into a flat 3× slowdown, want at least three quarters of %d", got, before)
	}
}

// TestStretchesUnderAModerateFlood: coalesced reads offered a little
// beyond the limit the latency holds fit under a stretch, so nothing is
// shed at it. That is not demand falling: the room was used and the
// latency did not move, so the higher limit is kept and nothing is shed
// once it is.
func TestStretchesUnderAModerateFlood(t *testing.T) {
	m := coalescing(5*time.Millisecond, 100*time.Millisecond, 20)
	for _, n := range []int{55, 60} { // the anonymous cap settles near 45 without stretches
		s := newSim(t, testConfig())
		s.run(10*time.Second, m, demand{Anonymous, n})
		tl := s.run(5*time.Second, m, demand{Anonymous, n})
		if tl.shed[Anonymous] > 0 {
			t.Errorf("%d reads a round: %d of %d shed at the limit %d, want none", n, tl.shed[Anonymous],
				tl.shed[Anonymous]+tl.admitted[Anonymous], s.l.Limit())
		}
	}
}

// TestBaselineRisesNoFurtherThanToleranceBetweenProbes: a baseline
// follows a lasting rise of the median slowly, but between probes no
// higher than Tolerance times the probed one, so that queueing which
// creeps up cannot lift the latency the limit keeps without bound.
func TestBaselineRisesNoFurtherThanToleranceBetweenProbes(t *testing.T) {
	cfg := testConfig()
	cfg.ProbeInterval = time.Hour
	s := newSim(t, cfg)
	s.run(90*time.Second, queueing(10*time.Millisecond, 40), demand{Checkout, 1000})
	if b, p := s.l.baseline[Checkout], s.l.probedBase[Checkout]; b > cfg.Tolerance*p*1.001 {
		t.Errorf("baseline %.1fms after 90s, want at most Tolerance × the probed %.1fms", b/1e6, p/1e6)
	}
}

// TestAStretchEndsWhenTrafficThins: a stretch under way when a flood
// stops does not hold the stretched limit while its windows wait for
// requests that no longer come: it ends without a verdict.
func TestAStretchEndsWhenTrafficThins(t *testing.T) {
	m := coalescing(5*time.Millisecond, 100*time.Millisecond, 20)
	s := newSim(t, testConfig())
	for range 200 {
		if s.l.stretch.step != stretchOff {
			break
		}
		s.run(50*time.Millisecond, m, demand{Anonymous, 600})
	}
	if s.l.stretch.step == stretchOff {
		t.Fatal("no stretch began in 10s of a flood of coalesced reads")
	}
	// One read a round of 100ms, ten a second: a window of MinSamples
	// takes two seconds, and the stretch has up to six.
	s.run(2*time.Second, fixed(100*time.Millisecond), demand{Anonymous, 1})
	if s.l.stretch.step != stretchOff {
		t.Errorf("stretch step %d still under way 2s after the flood stopped", s.l.stretch.step)
	}
	if got, want := s.l.Limit(), int(s.l.estimate); got != want {
		t.Errorf("limit %d once the stretch ended, want the estimate %d", got, want)
	}
}
