package orderflow

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// pastTTLs is more than the sandbox's default reservation and hold TTLs.
const pastTTLs = 11 * time.Minute

// serviceConfig is the transport settings of every test client: the
// defaults, but a breaker that reopens quickly, so that a test that trips it
// waits milliseconds rather than the production 5 s; edit, if any, changes
// them further.
func serviceConfig(edit func(*upstream.Config)) upstream.Config {
	c := upstream.DefaultConfig()
	c.Breaker.OpenTimeout = 50 * time.Millisecond
	if edit != nil {
		edit(&c)
	}
	return c
}

// configWith returns the default settings of a Flow changed by edit.
func configWith(edit func(*Config)) Config {
	c := DefaultConfig()
	edit(&c)
	return c
}

// depsFor is Deps over the real typed clients c and a journal in memory.
func depsFor(c sandboxtest.Clients) Deps {
	return Deps{Catalog: c.Product, Orders: c.Order, Payments: c.Payment, Profiles: c.User, Notifier: c.Notification, Journal: newMemJournal()}
}

// memJournal is a Journal in memory for the tests of this package, which
// cannot import the real stores (they import this package); the crash
// tests, in package orderflow_test, run on the real ones, and
// journaltest.Run holds this one to the same contract.
type memJournal struct {
	mu   sync.Mutex
	recs map[string]Record
}

func newMemJournal() *memJournal { return &memJournal{recs: map[string]Record{}} }

func (m *memJournal) Get(_ context.Context, id string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	return r, ok, nil
}

func (m *memJournal) Create(_ context.Context, rec Record) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.recs[rec.ID]; ok {
		return r, false, nil
	}
	m.recs[rec.ID] = rec
	return Record{}, true, nil
}

func (m *memJournal) Update(_ context.Context, rec Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.recs[rec.ID]; !ok || r.Version != rec.Version-1 {
		return ErrConflict
	}
	m.recs[rec.ID] = rec
	return nil
}

func (m *memJournal) Expired(_ context.Context, now time.Time, limit int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.recs {
		if !r.State.Finished() && !r.LeaseUntil.After(now) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memJournal) Backlog(ctx context.Context, now time.Time, limit int) (int, error) {
	recs, err := m.Expired(ctx, now, limit)
	return len(recs), err
}

// startFlow runs the sandbox with sandboxtest.Start and a Flow over it, with
// the default settings and its clients' changed by svc, if any.
func startFlow(tb testing.TB, svc func(*upstream.Config), opts ...Option) (*sandboxtest.Running, *clocktest.Manual, *Flow) {
	tb.Helper()
	return startFlowWith(tb, svc, DefaultConfig(), opts...)
}

// startFlowWith is startFlow with the settings cfg.
func startFlowWith(tb testing.TB, svc func(*upstream.Config), cfg Config, opts ...Option) (*sandboxtest.Running, *clocktest.Manual, *Flow) {
	tb.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(tb, sandbox.Config{Clock: clock.Now})
	f := New(depsFor(rt.Clients(tb, serviceConfig(svc))), cfg, opts...)
	tb.Cleanup(func() { _ = f.Close(context.Background()) })
	return rt, clock, f
}

// quietSandbox serves the sandbox's real handlers like sandboxtest.Start,
// and also counts the requests being handled. An injected latency lets a
// request outlive the client that gave up on it, and its effect lands later;
// judging the final state needs every such request to have landed first,
// which quiesce waits for instead of sleeping.
type quietSandbox struct {
	*sandbox.Sandbox
	clock *clocktest.Manual
	urls  map[string]string

	mu       sync.Mutex
	idle     *sync.Cond
	inflight int
}

func startQuietSandbox(tb testing.TB, cfg sandbox.Config) *quietSandbox {
	tb.Helper()
	clock := clocktest.New(time.Now())
	cfg.Clock = clock.Now
	q := &quietSandbox{Sandbox: sandbox.New(cfg), clock: clock, urls: map[string]string{}}
	q.idle = sync.NewCond(&q.mu)
	for _, name := range sandbox.Services {
		h := q.Handler(name)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q.mu.Lock()
			q.inflight++
			q.mu.Unlock()
			defer func() {
				q.mu.Lock()
				q.inflight--
				q.idle.Broadcast()
				q.mu.Unlock()
			}()
			h.ServeHTTP(w, r)
		}))
		tb.Cleanup(srv.Close)
		q.urls[name] = srv.URL
	}
	return q
}

func (q *quietSandbox) deps(tb testing.TB) Deps {
	tb.Helper()
	return depsFor(sandboxtest.ClientsAt(tb, q.urls, serviceConfig(nil)))
}

// quiesce waits until no request is being handled.
func (q *quietSandbox) quiesce() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.inflight > 0 {
		q.idle.Wait()
	}
}

// fault injects f into service through the admin endpoint.
func (q *quietSandbox) fault(tb testing.TB, service string, f sandbox.Fault) {
	tb.Helper()
	body, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(q.urls[service]+"/__admin/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("inject fault: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("inject fault %+v into %s: got status %d, want %d", f, service, resp.StatusCode, http.StatusCreated)
	}
}

// clearFaults removes every fault injected into the sandbox.
func (q *quietSandbox) clearFaults(tb testing.TB) {
	tb.Helper()
	for _, name := range sandbox.Services {
		req, err := http.NewRequest(http.MethodDelete, q.urls[name]+"/__admin/faults", nil)
		if err != nil {
			tb.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatalf("clear faults: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			tb.Fatalf("clear faults of %s: got status %d, want %d", name, resp.StatusCode, http.StatusNoContent)
		}
	}
}

// checkInvariants fails the test with every violation of st.
// behind waits for the work f does behind its answers: the completion
// records.
func behind(tb testing.TB, f *Flow) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.completions.drain(ctx); err != nil {
		tb.Fatalf("the work behind the answers: %v", err)
	}
}

func checkInvariants(tb testing.TB, st sandbox.State) {
	tb.Helper()
	for _, err := range st.Invariants() {
		tb.Errorf("invariant: %v", err)
	}
}

// codeOf returns the problem code of err, or "" for nil.
func codeOf(tb testing.TB, err error) problem.Code {
	tb.Helper()
	if err == nil {
		return ""
	}
	var pe *problem.Error
	if !errors.As(err, &pe) {
		tb.Fatalf("got error %T %v, want a *problem.Error", err, err)
	}
	return pe.Code
}

// outcomes records what the flow tells its Observer.
type outcomes struct {
	mu            sync.Mutex
	orders        map[string]int
	notifications map[string]int
	// writes counts the journal writes by op.
	writes map[string]int
}

func newOutcomes() *outcomes {
	return &outcomes{orders: map[string]int{}, notifications: map[string]int{}, writes: map[string]int{}}
}

func (o *outcomes) OrderOutcome(s string) {
	o.mu.Lock()
	o.orders[s]++
	o.mu.Unlock()
}

func (o *outcomes) NotificationOutcome(s string) {
	o.mu.Lock()
	o.notifications[s]++
	o.mu.Unlock()
}

func (o *outcomes) SagaRecovered(string) {}
func (o *outcomes) JournalBacklog(int)   {}

func (o *outcomes) JournalWrite(op string, _ time.Duration) {
	o.mu.Lock()
	o.writes[op]++
	o.mu.Unlock()
}

// journaled returns the journal writes of op seen so far.
func (o *outcomes) journaled(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writes[op]
}

func (o *outcomes) notified(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notifications[s]
}

func (o *outcomes) ordered(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.orders[s]
}

// stockOf returns the stock levels of id in st.
func stockOf(st sandbox.State, id int64) sandbox.StockLevel {
	for _, p := range st.Product.Products {
		if p.ID == id {
			return p
		}
	}
	return sandbox.StockLevel{}
}

// priceOf returns the catalog price of id.
func priceOf(tb testing.TB, s *sandbox.Sandbox, id int64) int64 {
	tb.Helper()
	rec := httptest.NewRecorder()
	s.Handler(sandbox.ServiceProduct).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/products/"+strconv.FormatInt(id, 10), nil))
	var p product.Product
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusOK {
		tb.Fatalf("GET /products/%d: status %d, %v", id, rec.Code, err)
	}
	return p.Price.Amount
}

func visa(items ...Item) Input { return Input{Items: items, PaymentToken: payment.TokenVisa} }

// NewMemJournalForTest exports memJournal to this directory's external
// tests, which hold it to the journal contract.
func NewMemJournalForTest() Journal { return newMemJournal() }
