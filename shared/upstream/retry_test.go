package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/upstream"
)

var (
	errTransient = errors.New("transient")
	errFinal     = errors.New("final")
)

func TestRetry(t *testing.T) {
	policy := upstream.RetryPolicy{
		Backoff:   upstream.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond},
		Attempts:  4,
		Retryable: func(err error) bool { return errors.Is(err, errTransient) },
	}
	tests := []struct {
		name      string
		fails     []error // the answer of each try; nil past the end
		budget    *upstream.RetryBudget
		wantTries int
		wantErr   error
	}{
		{"success at once", nil, nil, 1, nil},
		{"success after two transient failures", []error{errTransient, errTransient}, nil, 3, nil},
		{"a final failure is not retried", []error{errTransient, errFinal}, nil, 2, errFinal},
		{"attempts run out", []error{errTransient, errTransient, errTransient, errTransient, errTransient}, nil, 4, errTransient},
		{"an empty budget grants no retry", []error{errTransient, errTransient},
			upstream.NewRetryBudget(0.2, 0, clocktest.New(time.Now()).Now), 1, errTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			p.Budget = tt.budget
			tries := 0
			err := upstream.Retry(context.Background(), p, func(_ context.Context, attempt int) error {
				if attempt != tries {
					t.Errorf("attempt %d on try %d", attempt, tries+1)
				}
				tries++
				if attempt < len(tt.fails) {
					return tt.fails[attempt]
				}
				return nil
			})
			if tries != tt.wantTries || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %d tries, error %v; want %d, %v", tries, err, tt.wantTries, tt.wantErr)
			}
		})
	}
}

// TestRetryLeavesRoomForAnAnswer: no retry starts when the pause would
// leave less than Base before the deadline.
func TestRetryLeavesRoomForAnAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	p := upstream.RetryPolicy{
		Backoff:   upstream.Backoff{Base: 50 * time.Millisecond, Max: time.Second},
		Retryable: func(error) bool { return true },
	}
	tries := 0
	err := upstream.Retry(ctx, p, func(context.Context, int) error { tries++; return errTransient })
	if tries != 1 || !errors.Is(err, errTransient) {
		t.Errorf("got %d tries ending in %v, want 1 ending in the try's own error", tries, err)
	}
}

func TestRetryBudget(t *testing.T) {
	clock := clocktest.New(time.Now())
	b := upstream.NewRetryBudget(0.2, 5, clock.Now)
	p := upstream.RetryPolicy{Attempts: 2, Retryable: func(error) bool { return true }, Budget: b}
	retried := func() bool {
		tries := 0
		_ = upstream.Retry(context.Background(), p, func(context.Context, int) error { tries++; return errTransient })
		return tries == 2
	}
	granted := 0
	for range 10 {
		if retried() {
			granted++
		}
	}
	if granted != 5 {
		t.Errorf("a fresh budget of 5 a second granted %d retries, want 5", granted)
	}
	clock.Advance(time.Second)
	for range 5 {
		if !retried() {
			t.Fatal("the floor did not refill after a second")
		}
	}
	if retried() {
		t.Error("a retry was granted beyond the refilled floor")
	}
}

// TestServiceRetriesWithinItsBudget: a service that fails every GET gets
// the retries its budget allows, not Retries for every call.
func TestServiceRetriesWithinItsBudget(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	cfg := upstream.DefaultConfig()
	cfg.Breaker.ConsecutiveFailures = 1 << 20 // the budget, not the breaker, is under test
	cfg.Breaker.MinRequests = 1 << 20
	s := newServiceWith(t, []string{srv.URL}, cfg, upstream.WithBackoff(time.Microsecond))
	const calls = 100
	start := time.Now()
	for range calls {
		_ = s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/"}, nil)
	}
	// The floor's first second, a fifth of the calls, and the floor for the
	// time the calls took.
	budget := upstream.DefaultRetriesPerSecond + calls/5 +
		int(time.Since(start).Seconds()*upstream.DefaultRetriesPerSecond) + 1
	if got := int(hits.Load()) - calls; got > budget || got < calls/5 {
		t.Errorf("%d retries for %d failing calls, want between %d and the budget's %d", got, calls, calls/5, budget)
	}
}
