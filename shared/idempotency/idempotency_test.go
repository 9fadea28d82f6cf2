package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// forEachStore runs test against each Store: the Manager's guarantees must
// not depend on which one keeps the records. newStore returns an empty one.
func forEachStore(t *testing.T, test func(t *testing.T, newStore func() idempotency.Store)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func() idempotency.Store { return idempotency.NewMemoryStore(0) })
	})
	t.Run("redis", func(t *testing.T) {
		c := redistest.Client(t)
		test(t, func() idempotency.Store { return redisstore.NewIdempotency(c, redistest.Prefix(t)) })
	})
}

func newManager(store idempotency.Store, opts ...idempotency.Option) (*idempotency.Manager, *clock) {
	clk := &clock{now: start}
	return idempotency.New(store, append([]idempotency.Option{idempotency.WithClock(clk.Now)}, opts...)...), clk
}

const body = `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}`

// counter returns an fn answering with status and a body numbering its calls.
func counter(status int) (func(context.Context) idempotency.Response, *atomic.Int64) {
	var n atomic.Int64
	return func(context.Context) idempotency.Response {
		i := n.Add(1)
		return idempotency.Response{Status: status, ContentType: "application/json", Body: fmt.Appendf(nil, `{"id":"ord_%d", "note":"\u00e9 kept as sent"}`, i)}
	}, &n
}

func isCode(err error, code problem.Code) bool {
	var p *problem.Error
	return errors.As(err, &p) && p.Code == code
}

func wantCode(t *testing.T, err error, code problem.Code) {
	t.Helper()
	if !isCode(err, code) {
		t.Fatalf("got error %v, want %s", err, code)
	}
}

func TestDoReplaysByteForByte(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		fn, calls := counter(201)
		ctx := context.Background()
		first, replayed, err := m.Do(ctx, "usr_ada", "k1", []byte(body), fn)
		if err != nil || replayed {
			t.Fatalf("first Do: got replayed %v, err %v; want false, nil", replayed, err)
		}
		// The retry re-serialises the same document differently.
		retryBody := `{ "payment_token": "tok_visa", "items": [ { "quantity": 1, "product_id": 1 } ] }`
		for i := range 3 {
			got, replayed, err := m.Do(ctx, "usr_ada", "k1", []byte(retryBody), fn)
			if err != nil || !replayed {
				t.Fatalf("retry %d: got replayed %v, err %v; want true, nil", i, replayed, err)
			}
			if got.Status != first.Status || got.ContentType != first.ContentType || !bytes.Equal(got.Body, first.Body) {
				t.Fatalf("retry %d: got %d %s %s, want %d %s %s", i, got.Status, got.ContentType, got.Body, first.Status, first.ContentType, first.Body)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("got fn run %d times, want 1", got)
		}
	})
}

func TestDoStoresClientErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		fn, calls := counter(402)
		for range 2 {
			if _, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn); err != nil {
				t.Fatalf("Do: %v", err)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("got fn run %d times for a 402, want 1 (a decline is an answer)", got)
		}
	})
}

func TestDoKeysArePerScope(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		fn, calls := counter(201)
		for _, scope := range []string{"usr_ada", "usr_grace", "usr_ada:k", ""} {
			if _, replayed, err := m.Do(context.Background(), scope, "k1", []byte(body), fn); err != nil || replayed {
				t.Fatalf("Do in scope %q: got replayed %v, err %v; want a fresh run", scope, replayed, err)
			}
		}
		// ("usr_ada:k", "1") must not read ("usr_ada", "k:1")'s record, and so on.
		if _, replayed, err := m.Do(context.Background(), "usr_ada", "k:1", []byte(body), fn); err != nil || replayed {
			t.Fatalf("got replayed %v, err %v; want a fresh run", replayed, err)
		}
		if got := calls.Load(); got != 5 {
			t.Errorf("got fn run %d times, want 5", got)
		}
	})
}

func TestDoBusyWhileInFlight(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		entered := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), func(context.Context) idempotency.Response {
				close(entered)
				<-release
				return idempotency.Response{Status: 201, Body: []byte(`{}`)}
			})
			done <- err
		}()
		<-entered
		fn, calls := counter(201)
		_, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
		wantCode(t, err, problem.CodeIdempotencyBusy)
		if p := problem.From(err); p.Status() != 409 || p.RetryAfter <= 0 {
			t.Errorf("got status %d, Retry-After %v; want 409 with a Retry-After", p.Status(), p.RetryAfter)
		}
		// A different body while in flight is a reuse, not a retry.
		_, _, err = m.Do(context.Background(), "usr_ada", "k1", []byte(`{"other":true}`), fn)
		wantCode(t, err, problem.CodeIdempotencyReused)
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("first Do: %v", err)
		}
		if got := calls.Load(); got != 0 {
			t.Errorf("got fn run %d times, want 0", got)
		}
	})
}

func TestDoReusedKeyWithOtherBody(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		fn, _ := counter(201)
		if _, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn); err != nil {
			t.Fatal(err)
		}
		_, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(`{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`), fn)
		wantCode(t, err, problem.CodeIdempotencyReused)
		if got := problem.From(err).Status(); got != 422 {
			t.Errorf("got status %d, want 422", got)
		}
	})
}

func TestDoRecordExpires(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, clk := newManager(newStore())
		fn, calls := counter(201)
		ctx := context.Background()
		if _, _, err := m.Do(ctx, "usr_ada", "k1", []byte(body), fn); err != nil {
			t.Fatal(err)
		}
		clk.Advance(idempotency.DefaultRecordTTL - time.Second)
		if _, replayed, err := m.Do(ctx, "usr_ada", "k1", []byte(body), fn); err != nil || !replayed {
			t.Fatalf("just before the TTL: got replayed %v, err %v; want a replay", replayed, err)
		}
		clk.Advance(time.Second)
		// Past the TTL the key is new again, even with another body.
		got, replayed, err := m.Do(ctx, "usr_ada", "k1", []byte(`{"other":1}`), fn)
		if err != nil || replayed {
			t.Fatalf("after the TTL: got replayed %v, err %v; want a fresh run", replayed, err)
		}
		if string(got.Body) != `{"id":"ord_2", "note":"\u00e9 kept as sent"}` || calls.Load() != 2 {
			t.Errorf("got body %s after %d runs, want the second run's", got.Body, calls.Load())
		}
		if _, replayed, err := m.Do(ctx, "usr_ada", "k1", []byte(`{"other":1}`), fn); err != nil || !replayed {
			t.Errorf("after the new run: got replayed %v, err %v; want a replay", replayed, err)
		}
	})
}

// gateStore holds the first n Reserve calls that find a record until all n
// have found it.
type gateStore struct {
	idempotency.Store
	n    int64
	seen atomic.Int64
	open chan struct{}
}

func (s *gateStore) Reserve(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) (idempotency.Record, bool, error) {
	existing, created, err := s.Store.Reserve(ctx, key, rec, ttl)
	if err == nil && !created {
		switch n := s.seen.Add(1); {
		case n < s.n:
			<-s.open
		case n == s.n:
			close(s.open)
		}
	}
	return existing, created, err
}

func TestDoStuckRequestFreesKeyAfterLockTTL(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		store := newStore()
		clk := &clock{now: start}
		m := idempotency.New(store, idempotency.WithClock(clk.Now))
		// The first request hangs (its replica is wedged or gone) holding the key.
		entered := make(chan struct{})
		unblock := make(chan struct{})
		stuckDone := make(chan struct{})
		go func() {
			defer close(stuckDone)
			_, _, _ = m.Do(context.Background(), "usr_ada", "k1", []byte(body), func(context.Context) idempotency.Response {
				close(entered)
				<-unblock
				return idempotency.Response{Status: 201, Body: []byte(`{"id":"ord_stuck"}`)}
			})
		}()
		<-entered
		unblocked := false
		defer func() {
			if !unblocked {
				close(unblock)
				<-stuckDone
			}
		}()

		fn, calls := counter(201)
		clk.Advance(idempotency.DefaultLockTTL - time.Second)
		_, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
		wantCode(t, err, problem.CodeIdempotencyBusy)

		clk.Advance(time.Second)
		// Many retries find the expired lock at once; exactly one runs. The
		// gate holds each until all have seen the expired record, the worst
		// interleaving.
		const n = 20
		gated := idempotency.New(&gateStore{Store: store, n: n, open: make(chan struct{})}, idempotency.WithClock(clk.Now))
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, _, err := gated.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
				if err != nil && !isCode(err, problem.CodeIdempotencyBusy) {
					t.Errorf("got error %v, want none or %s", err, problem.CodeIdempotencyBusy)
				}
			})
		}
		wg.Wait()
		if got := calls.Load(); got != 1 {
			t.Errorf("got fn run %d times, want 1", got)
		}

		// The stuck request finally finishes: it must not overwrite the
		// record of the request that took its key over.
		close(unblock)
		<-stuckDone
		unblocked = true
		got, replayed, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
		if err != nil || !replayed || string(got.Body) == `{"id":"ord_stuck"}` {
			t.Errorf("after the stuck request ended: got %s replayed %v err %v, want the winner's stored response", got.Body, replayed, err)
		}
	})
}

func TestDoServerErrorsAreNotStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		tests := []struct {
			name   string
			status int
		}{
			{"500", 500},
			{"503", 503},
			{"no status", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m, _ := newManager(newStore())
				failing, failed := counter(tt.status)
				got, replayed, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), failing)
				if err != nil || replayed || got.Status != tt.status {
					t.Fatalf("got %d, replayed %v, err %v; want the %d passed through", got.Status, replayed, err, tt.status)
				}
				ok, succeeded := counter(201)
				got, replayed, err = m.Do(context.Background(), "usr_ada", "k1", []byte(body), ok)
				if err != nil || replayed || got.Status != 201 {
					t.Fatalf("retry: got %d, replayed %v, err %v; want a fresh 201", got.Status, replayed, err)
				}
				if failed.Load() != 1 || succeeded.Load() != 1 {
					t.Errorf("got %d failing and %d succeeding runs, want 1 and 1", failed.Load(), succeeded.Load())
				}
			})
		}
	})
}

func TestDoPanicReleasesKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		m, _ := newManager(newStore())
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("got recover() = %v, want the panic to go on with boom", r)
				}
			}()
			_, _, _ = m.Do(context.Background(), "usr_ada", "k1", []byte(body), func(context.Context) idempotency.Response {
				panic("boom")
			})
		}()
		fn, calls := counter(201)
		if _, replayed, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn); err != nil || replayed {
			t.Fatalf("after the panic: got replayed %v, err %v; want a fresh run", replayed, err)
		}
		if calls.Load() != 1 {
			t.Errorf("got fn run %d times, want 1", calls.Load())
		}
	})
}

func TestDoConcurrentSameKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		const n = 50
		m, _ := newManager(newStore())
		var answered atomic.Int64
		halfway := make(chan struct{})
		var calls atomic.Int64
		fn := func(context.Context) idempotency.Response {
			calls.Add(1)
			// Hold the key until half the others have been answered busy.
			<-halfway
			return idempotency.Response{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"ord_1"}`)}
		}
		var wg sync.WaitGroup
		var ran, replays, busy atomic.Int64
		for range n {
			wg.Go(func() {
				got, replayed, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
				switch {
				case err != nil:
					if !isCode(err, problem.CodeIdempotencyBusy) {
						t.Errorf("got error %v, want %s", err, problem.CodeIdempotencyBusy)
					}
					busy.Add(1)
				case string(got.Body) != `{"id":"ord_1"}` || got.Status != 201:
					t.Errorf("got %d %s, want the stored 201", got.Status, got.Body)
				case replayed:
					replays.Add(1)
				default:
					ran.Add(1)
				}
				if answered.Add(1) == n/2 {
					close(halfway)
				}
			})
		}
		wg.Wait()
		if calls.Load() != 1 || ran.Load() != 1 {
			t.Errorf("got fn run %d times and %d first responses, want 1 and 1", calls.Load(), ran.Load())
		}
		if busy.Load() < n/2 {
			t.Errorf("got %d busy answers, want at least %d (they arrived while the key was held)", busy.Load(), n/2)
		}
		if total := ran.Load() + replays.Load() + busy.Load(); total != n {
			t.Errorf("got %d answers, want %d", total, n)
		}
		// The key is settled now: a second burst gets the replay, every time.
		for range n / 2 {
			wg.Go(func() {
				got, replayed, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
				if err != nil || !replayed || got.Status != 201 || string(got.Body) != `{"id":"ord_1"}` {
					t.Errorf("after the first finished: got %d %s replayed %v err %v, want the stored 201 replayed", got.Status, got.Body, replayed, err)
				}
			})
		}
		wg.Wait()
		if calls.Load() != 1 {
			t.Errorf("fn ran %d times in all, want 1", calls.Load())
		}
	})
}

// failingStore fails every operation named in fail.
type failingStore struct {
	idempotency.Store
	fail map[string]bool
}

func (s failingStore) Reserve(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) (idempotency.Record, bool, error) {
	if s.fail["reserve"] {
		return idempotency.Record{}, false, errors.New("connection refused")
	}
	return s.Store.Reserve(ctx, key, rec, ttl)
}

func (s failingStore) Complete(ctx context.Context, key string, owner time.Time, rec idempotency.Record, ttl time.Duration) error {
	if s.fail["complete"] {
		return errors.New("connection reset")
	}
	return s.Store.Complete(ctx, key, owner, rec, ttl)
}

func TestDoStoreFailures(t *testing.T) {
	t.Run("reserve", func(t *testing.T) {
		m := idempotency.New(failingStore{idempotency.NewMemoryStore(0), map[string]bool{"reserve": true}})
		fn, calls := counter(201)
		_, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
		wantCode(t, err, problem.CodeUnavailable)
		if calls.Load() != 0 {
			t.Errorf("got fn run %d times, want 0: without a record the run is not protected", calls.Load())
		}
	})
	t.Run("complete", func(t *testing.T) {
		var reported []string
		m := idempotency.New(failingStore{idempotency.NewMemoryStore(0), map[string]bool{"complete": true}},
			idempotency.WithErrorHandler(func(_ context.Context, op string, err error) { reported = append(reported, op) }))
		fn, _ := counter(201)
		got, _, err := m.Do(context.Background(), "usr_ada", "k1", []byte(body), fn)
		if err != nil || got.Status != 201 {
			t.Fatalf("got %d, %v; want the 201 the work produced", got.Status, err)
		}
		if len(reported) != 1 || reported[0] != "complete" {
			t.Errorf("got reports %v, want [complete]", reported)
		}
	})
}

func TestDoRefusesEmptyKey(t *testing.T) {
	m, _ := newManager(idempotency.NewMemoryStore(0))
	fn, _ := counter(201)
	_, _, err := m.Do(context.Background(), "usr_ada", "", []byte(body), fn)
	wantCode(t, err, problem.CodeIdempotencyInvalid)
}

func BenchmarkFingerprint(b *testing.B) {
	payload := []byte(`{"items":[{"product_id":1,"quantity":2},{"product_id":7,"quantity":1},{"product_id":12,"quantity":3}],"payment_token":"tok_visa"}`)
	b.ReportAllocs()
	for b.Loop() {
		idempotency.Fingerprint(payload)
	}
}

// TestDoInheritsTheReferenceOfADeadRequest: a request whose first try died
// in flight (its replica crashed after doing the work, say) repeats that
// same work under the same reference, which downstream deduplicates; a new
// key, or the same key after a 5xx released it, gets a fresh reference.
func TestDoInheritsTheReferenceOfADeadRequest(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func() idempotency.Store) {
		store := newStore()
		m, clk := newManager(store)
		refOf := func(key string, status int) string {
			var ref string
			_, _, err := m.Do(context.Background(), "usr_ada", key, []byte(body), func(ctx context.Context) idempotency.Response {
				ref = idempotency.Reference(ctx)
				return idempotency.Response{Status: status, ContentType: "application/json", Body: []byte(`{}`)}
			})
			if err != nil {
				t.Fatalf("Do(%s): %v", key, err)
			}
			return ref
		}
		a, b := refOf("fresh-1", 201), refOf("fresh-2", 201)
		if a == "" || b == "" || a == b {
			t.Fatalf("fresh keys got references %q and %q, want two different non-empty ones", a, b)
		}
		failed := refOf("flaky", 503)
		if again := refOf("flaky", 201); again == "" || again == failed {
			t.Errorf("after a released 5xx the retry got reference %q, want a fresh one (not %q)", again, failed)
		}

		// A first request reserved the key and died without settling it.
		fp := idempotency.Fingerprint([]byte(body))
		key := "7:usr_ada:dead" // the Manager's store key for (usr_ada, dead)
		if _, created, err := store.Reserve(context.Background(), key, idempotency.Record{Fingerprint: fp, CreatedAt: clk.Now(), Reference: "ref-of-the-dead"}, time.Hour); err != nil || !created {
			t.Fatalf("seed the dead request: created %v, %v", created, err)
		}
		clk.Advance(idempotency.DefaultLockTTL)
		if got := refOf("dead", 201); got != "ref-of-the-dead" {
			t.Errorf("taking over a dead request: reference %q, want the dead request's %q", got, "ref-of-the-dead")
		}
	})
}
