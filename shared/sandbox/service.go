package sandbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/problem"
)

// maxBody bounds every request body; the sandbox's largest legitimate body
// (an order of 100 lines) is far below it.
const maxBody = 1 << 20

// handlerFunc serves one route. It runs under the service's lock, after lazy
// expiry, with the whole body already read. It returns the status and value
// to encode as JSON, or an error (an *apiError for a refusal).
type handlerFunc func(r *http.Request, body []byte) (int, any, error)

// stored is a response kept for idempotent replay.
type stored struct {
	fingerprint [sha256.Size]byte
	rep         reply
}

// service is what the five services share: routing, the lock that makes a
// write's check-and-change atomic, the idempotency store, request counters
// and fault injection.
type service struct {
	name   string
	now    func() time.Time
	mux    *http.ServeMux
	routes []string // non-admin patterns, in registration order

	// mu guards the service's data and idem. Every handler runs under it:
	// a write checks and changes state in one critical section.
	mu   sync.Mutex
	idem map[string]stored
	// expire applies lazy expiry before every operation; nil when nothing
	// expires. Called with mu held.
	expire func(now time.Time)
	// seed restores the seeded data. Called with mu held.
	seed func()
	// revalidate, for a route that has it, runs before a stored answer of
	// that route is replayed, with the request's body: an error it returns
	// is answered instead, and not stored (a refresh replayed once its
	// family was revoked). Called with mu held.
	revalidate map[string]func(body []byte) error
	// snapshot returns the service's admin state, counters included. It
	// takes the locks itself (through withState and counters).
	snapshot func() any

	// meta guards requests and faults, which change on every request and
	// must not wait behind a slow write.
	meta     sync.Mutex
	requests map[string]int
	faults   *faultSet
	rngSeed  uint64

	// inflight counts requests being served, injected latency included.
	inflight atomic.Int64
}

func newService(name string, now func() time.Time, seed int64) *service {
	h := fnv.New64a()
	_, _ = io.WriteString(h, name)
	s := &service{
		name:     name,
		now:      now,
		mux:      http.NewServeMux(),
		idem:     map[string]stored{},
		requests: map[string]int{},
		rngSeed:  uint64(seed) ^ h.Sum64(),
	}
	s.faults = newFaultSet(s.rngSeed)
	s.mux.HandleFunc("GET /__admin/state", s.adminState)
	s.mux.HandleFunc("GET /__admin/faults", s.adminListFaults)
	s.mux.HandleFunc("POST /__admin/faults", s.adminAddFault)
	s.mux.HandleFunc("DELETE /__admin/faults", s.adminClearFaults)
	s.mux.HandleFunc("POST /__admin/reset", s.adminReset)
	return s
}

// setup installs the hooks that restore the seeded data and report the
// admin state, and seeds the data.
func (s *service) setup(seed func(), snapshot func() any) {
	s.seed = seed
	s.snapshot = snapshot
	seed()
}

// handle registers a non-admin route. POST and DELETE routes are writes and
// go through the idempotency store.
func (s *service) handle(pattern string, h handlerFunc) {
	method, _, _ := strings.Cut(pattern, " ")
	write := method == http.MethodPost || method == http.MethodDelete
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.serveRoute(w, r, write, h)
	})
}

// ServeHTTP answers requests that match no route, or match one with another
// method, with a problem document rather than the mux's plain text.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux knows whether another method would match; ask it, keeping
	// only its status and Allow header.
	var probe statusProbe
	s.mux.ServeHTTP(&probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.Header().Get("Allow"))
		problemReply(fail(http.StatusMethodNotAllowed, string(problem.CodeMethodNotAllowed),
			"%s is not allowed on %s", r.Method, r.URL.Path)).write(w, false)
		return
	}
	problemReply(notFound("no route %s %s on the %s service", r.Method, r.URL.Path, s.name)).write(w, false)
}

func (s *service) serveRoute(w http.ResponseWriter, r *http.Request, write bool, h handlerFunc) {
	route := r.Pattern
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.meta.Lock()
	s.requests[route]++
	fr := s.faults.match(route)
	s.meta.Unlock()

	// The body is read before any injected latency so that a request whose
	// client gave up meanwhile is still processed in full.
	body, err := readBody(w, r)
	if err != nil {
		errorReply(err).write(w, false)
		return
	}
	if fr.slots != nil {
		select {
		case fr.slots <- struct{}{}:
			defer func() { <-fr.slots }()
		case <-r.Context().Done():
			return // its client went away while it waited for a turn
		}
	}
	if fr.latency > 0 {
		time.Sleep(fr.latency)
	}
	if fr.before != nil {
		fr.before.apply(w)
		return
	}

	rep, replayed := s.run(r, body, write, h)
	if fr.after != nil {
		fr.after.apply(w)
		return
	}
	rep.write(w, replayed)
}

// run executes h under the lock; for a write it first consults the
// idempotency store and afterwards records the answer.
func (s *service) run(r *http.Request, body []byte, write bool, h handlerFunc) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expire != nil {
		s.expire(s.now())
	}
	var key string
	var fp [sha256.Size]byte
	if write {
		if k := idempotencyKey(r, body); k != "" {
			key = r.Pattern + "\x00" + r.URL.Path + "\x00" + k
			fp = fingerprint(body)
			if prev, ok := s.idem[key]; ok {
				if prev.fingerprint != fp {
					return problemReply(fail(http.StatusUnprocessableEntity, string(problem.CodeIdempotencyReused),
						"idempotency key %q was first used with a different request body", k)), false
				}
				if check := s.revalidate[r.Pattern]; check != nil {
					if err := check(body); err != nil {
						return errorReply(err), false
					}
				}
				return prev.rep, true
			}
		}
	}
	status, v, err := h(r, body)
	var rep reply
	if err != nil {
		rep = errorReply(err)
	} else {
		rep = jsonReply(status, v)
	}
	// A 5xx says nothing definitive happened, so a retry must run again.
	if key != "" && rep.status < 500 {
		s.idem[key] = stored{fingerprint: fp, rep: rep}
	}
	return rep, false
}

// idempotencyKey is the Idempotency-Key header, or else the body's
// top-level "reference".
func idempotencyKey(r *http.Request, body []byte) string {
	if k := strings.TrimSpace(r.Header.Get("Idempotency-Key")); k != "" {
		return k
	}
	var ref struct {
		Reference any `json:"reference"`
	}
	if json.Unmarshal(body, &ref) != nil {
		return ""
	}
	if s, ok := ref.Reference.(string); ok {
		return s
	}
	return ""
}

// fingerprint hashes the body in a canonical form (keys sorted, no
// insignificant space) so that a retry that re-encodes the same request is
// recognised as the same.
func fingerprint(body []byte) [sha256.Size]byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if len(bytes.TrimSpace(body)) > 0 && dec.Decode(&v) == nil {
		if canon, err := json.Marshal(v); err == nil {
			return sha256.Sum256(canon)
		}
	}
	return sha256.Sum256(body)
}

// counters returns a copy of the request counters.
func (s *service) counters() map[string]int {
	s.meta.Lock()
	defer s.meta.Unlock()
	return maps.Clone(s.requests)
}

// withState runs f under the lock after lazy expiry, so that what f reads
// is what the next operation would see.
func (s *service) withState(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expire != nil {
		s.expire(s.now())
	}
	f()
}

// reset restores the seed and forgets faults, counters and stored replies.
func (s *service) reset() {
	s.mu.Lock()
	s.seed()
	s.idem = map[string]stored{}
	s.mu.Unlock()
	s.meta.Lock()
	s.requests = map[string]int{}
	s.faults = newFaultSet(s.rngSeed)
	s.meta.Unlock()
}

func (s *service) adminState(w http.ResponseWriter, _ *http.Request) {
	jsonReply(http.StatusOK, s.snapshot()).write(w, false)
}

func (s *service) adminListFaults(w http.ResponseWriter, _ *http.Request) {
	s.meta.Lock()
	list := s.faults.list()
	s.meta.Unlock()
	jsonReply(http.StatusOK, list).write(w, false)
}

func (s *service) adminAddFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	body, err := readBody(w, r)
	if err == nil {
		err = decodeJSON(body, &f)
	}
	if err != nil {
		errorReply(err).write(w, false)
		return
	}
	if err := f.validate(s.routes); err != nil {
		errorReply(err).write(w, false)
		return
	}
	s.meta.Lock()
	s.faults.add(f)
	s.meta.Unlock()
	jsonReply(http.StatusCreated, f).write(w, false)
}

func (s *service) adminClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.meta.Lock()
	s.faults.faults = nil
	s.meta.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *service) adminReset(w http.ResponseWriter, _ *http.Request) {
	s.reset()
	w.WriteHeader(http.StatusNoContent)
}

// statusProbe is a ResponseWriter that keeps the header and status written
// to it and discards the body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Interface guards.
var (
	_ http.Handler        = (*service)(nil)
	_ http.ResponseWriter = (*statusProbe)(nil)
)

// readBody reads the whole request body, up to maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fail(http.StatusRequestEntityTooLarge, string(problem.CodeTooLarge), "the body exceeds %d bytes", maxBody)
		}
		return nil, invalid("read body: %v", err)
	}
	return body, nil
}
