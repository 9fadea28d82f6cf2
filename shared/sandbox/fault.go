package sandbox

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// Fault makes one route (or every route) of a service misbehave on purpose.
// Its JSON form is the body of POST /__admin/faults.
type Fault struct {
	// Route is the ServeMux pattern, one of the Route constants such as
	// RouteCapture ("POST /payments/{id}/capture"), or "*" for every route
	// of the service except the admin ones.
	Route string `json:"route"`
	// Status, when non-zero, is answered with a problem body instead of the
	// real response. It must be 400..599.
	Status int `json:"status,omitempty"`
	// LatencyMS is slept before anything else but the wait for a turn
	// (Concurrency). The request is processed afterwards even if the client
	// gave up, which is what an ambiguous timeout looks like.
	LatencyMS int `json:"latency_ms,omitempty"`
	// Rate is the probability (0..1] that the fault fires on a matching
	// request. Zero means 1.
	Rate float64 `json:"rate,omitempty"`
	// Drop hijacks and closes the connection without answering.
	Drop bool `json:"drop,omitempty"`
	// After lets the handler run (state changes, the idempotent response is
	// stored) before Status or Drop replaces the answer. When false the fault
	// fires before the handler and nothing is processed.
	After bool `json:"after,omitempty"`
	// Count is how many times the fault fires; zero means unlimited.
	Count int `json:"count,omitempty"`
	// Concurrency, when non-zero, serves at most this many of the requests
	// the fault fires on at once, their latency included; the others wait
	// for a turn, in no particular order, and one whose client goes away
	// while it waits is dropped unprocessed (it still counts as a firing).
	// Of several firing faults, the first with a Concurrency sets it. With LatencyMS it makes a
	// service of bounded capacity (Concurrency ÷ latency requests a
	// second) whose clients queue beyond it, as behind a full database
	// pool.
	Concurrency int `json:"concurrency,omitempty"`
}

// validate checks f against the service's routes and fills in defaults.
func (f *Fault) validate(routes []string) error {
	if f.Route == "" {
		return invalid("route is required: a route pattern such as %q, or \"*\"", routes[0])
	}
	if f.Route != "*" && !slices.Contains(routes, f.Route) {
		return invalid("route %q is not a route of this service; routes: %q", f.Route, routes)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return invalid("status must be 400..599, got %d", f.Status)
	}
	if f.LatencyMS < 0 || f.LatencyMS > 10*60*1000 {
		return invalid("latency_ms must be 0..600000, got %d", f.LatencyMS)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return invalid("rate must be between 0 and 1, got %v", f.Rate)
	}
	if f.Concurrency < 0 {
		return invalid("concurrency must not be negative, got %d", f.Concurrency)
	}
	if f.Count < 0 {
		return invalid("count must not be negative, got %d", f.Count)
	}
	if f.Status != 0 && f.Drop {
		return invalid("a fault either answers a status or drops the connection, not both")
	}
	if f.Status == 0 && !f.Drop && f.LatencyMS == 0 && f.Concurrency == 0 {
		return invalid("a fault needs at least one of status, drop, latency_ms or concurrency")
	}
	if f.After && f.Status == 0 && !f.Drop {
		return invalid("after=true needs a status or drop to replace the answer with")
	}
	if f.Rate == 0 {
		f.Rate = 1
	}
	return nil
}

// activeFault is a Fault with the number of times it may still fire.
type activeFault struct {
	Fault
	left  int           // meaningful only when Count > 0
	slots chan struct{} // one token per request served; nil without Concurrency
}

// firing is what the faults matching one request decided.
type firing struct {
	latency time.Duration
	slots   chan struct{} // the first firing fault's with a Concurrency
	before  *Fault        // the first firing fault that acts before the handler
	after   *Fault        // the first firing fault that acts after it
}

// faultSet is the active faults of one service. It is guarded by the
// service's meta lock.
type faultSet struct {
	faults []*activeFault
	rng    *rand.Rand
}

func newFaultSet(seed uint64) *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (fs *faultSet) add(f Fault) {
	af := &activeFault{Fault: f, left: f.Count}
	if f.Concurrency > 0 {
		af.slots = make(chan struct{}, f.Concurrency)
	}
	fs.faults = append(fs.faults, af)
}

func (fs *faultSet) list() []Fault {
	out := make([]Fault, 0, len(fs.faults))
	for _, f := range fs.faults {
		g := f.Fault
		if g.Count > 0 {
			g.Count = f.left
		}
		out = append(out, g)
	}
	return out
}

// match rolls every fault of route and consumes the ones that fire.
func (fs *faultSet) match(route string) firing {
	var fr firing
	kept := fs.faults[:0]
	for _, f := range fs.faults {
		if (f.Route == "*" || f.Route == route) && (f.Rate >= 1 || fs.rng.Float64() < f.Rate) {
			fr.latency += time.Duration(f.LatencyMS) * time.Millisecond
			if fr.slots == nil {
				fr.slots = f.slots
			}
			switch {
			case f.Status == 0 && !f.Drop: // latency or concurrency only
			case f.After && fr.after == nil:
				g := f.Fault
				fr.after = &g
			case !f.After && fr.before == nil:
				g := f.Fault
				fr.before = &g
			}
			if f.Count > 0 {
				f.left--
				if f.left == 0 {
					continue
				}
			}
		}
		kept = append(kept, f)
	}
	clear(fs.faults[len(kept):])
	fs.faults = kept
	return fr
}

// apply answers the request as f says: a problem with f's status, or a
// dropped connection.
func (f *Fault) apply(w http.ResponseWriter) {
	if f.Drop {
		dropConnection(w)
		return
	}
	code := faultCodes[f.Status]
	if code == "" {
		code = "fault_injected"
	}
	problemReply(fail(f.Status, code, "fault injected on %s", f.Route)).write(w, false)
}

// faultCodes are the codes a real service would send with these statuses.
var faultCodes = map[int]string{
	http.StatusInternalServerError: "internal",
	http.StatusBadGateway:          "bad_gateway",
	http.StatusServiceUnavailable:  "service_unavailable",
	http.StatusGatewayTimeout:      "gateway_timeout",
	http.StatusTooManyRequests:     "rate_limited",
}

// dropConnection closes the client's connection without a response. When the
// writer cannot be hijacked (HTTP/2), aborting the handler has the same
// effect on the client.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
