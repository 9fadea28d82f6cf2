package aggregate_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/aggregate"
)

// counter records the degraded parts reported to it.
type counter struct {
	mu    sync.Mutex
	parts []string
}

func (c *counter) Degraded(part string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts = append(c.parts, part)
}

func (c *counter) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.parts)
}

var (
	errDown  = errors.New("upstream down")
	errOwner = errors.New("not the caller's")
)

// fails returns a fetch that fails with err (or succeeds when err is nil)
// after delay, so that parts finish in another order than they were given.
func fails(err error, delay time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-time.After(delay):
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestRunOutcomes: a required part's failure is the aggregate's error and
// counts nothing; optional failures are named in the order the parts were
// given, whatever order they ended in, and each is counted once.
func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		parts        []aggregate.Part
		wantErr      error
		wantDegraded []string
	}{
		{
			name: "every part answers",
			parts: []aggregate.Part{
				aggregate.Required("user", fails(nil, 0)),
				aggregate.Optional("orders", fails(nil, time.Millisecond)),
			},
		},
		{
			name: "an optional part fails",
			parts: []aggregate.Part{
				aggregate.Required("user", fails(nil, 0)),
				aggregate.Optional("orders", fails(errDown, 0)),
			},
			wantDegraded: []string{"orders"},
		},
		{
			name: "optional failures in the order given",
			parts: []aggregate.Part{
				aggregate.Optional("products", fails(errDown, 20*time.Millisecond)),
				aggregate.Optional("payment", fails(errDown, 0)),
				aggregate.Required("order", fails(nil, 0)),
			},
			wantDegraded: []string{"products", "payment"},
		},
		{
			name: "a required part fails",
			parts: []aggregate.Part{
				aggregate.Required("user", fails(errDown, 0)),
				aggregate.Optional("orders", fails(errDown, 0)),
			},
			wantErr: errDown,
		},
		{
			name: "the first required failure wins",
			parts: []aggregate.Part{
				aggregate.Required("order", fails(errOwner, 0)),
				aggregate.Required("user", fails(errDown, time.Hour)),
			},
			wantErr: errOwner,
		},
		{
			name: "a chained part names itself",
			parts: []aggregate.Part{
				aggregate.Required("orders", fails(nil, 0)).Then(aggregate.Optional("thumbnails", fails(errDown, 0))),
			},
			wantDegraded: []string{"thumbnails"},
		},
		{
			name: "the parts after a failed one are skipped",
			parts: []aggregate.Part{
				aggregate.Required("user", fails(nil, 0)),
				aggregate.Optional("orders", fails(errDown, 0)).Then(aggregate.Optional("thumbnails", fails(errDown, 0))),
			},
			wantDegraded: []string{"orders"},
		},
		{
			name: "a required part after a failed optional one is skipped",
			parts: []aggregate.Part{
				aggregate.Optional("orders", fails(errDown, 0)).Then(aggregate.Required("thumbnails", fails(errDown, 0))),
			},
			wantDegraded: []string{"orders"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &counter{}
			degraded, err := aggregate.New(c).Run(context.Background(), tt.parts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(degraded, tt.wantDegraded) {
				t.Errorf("got degraded %q, want %q", degraded, tt.wantDegraded)
			}
			if got := c.got(); !reflect.DeepEqual(got, tt.wantDegraded) {
				t.Errorf("got counted %q, want %q", got, tt.wantDegraded)
			}
		})
	}
}

// rendezvous returns a fetch for each of n parts that returns only once all
// n have started: it succeeds only if the parts run at the same time.
func rendezvous(n int) func(context.Context) error {
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	return func(ctx context.Context) error {
		wg.Done()
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestRunIsConcurrent: independent parts run at once, and a chained part
// runs alongside the parts that do not wait for the one it follows.
func TestRunIsConcurrent(t *testing.T) {
	meet := rendezvous(3)
	var order, thumbnails string
	_, err := aggregate.New(nil).Run(context.Background(),
		aggregate.Required("user", meet),
		aggregate.Required("orders", func(context.Context) error { order = "o-1"; return nil }).Then(
			aggregate.Required("thumbnails", func(ctx context.Context) error {
				thumbnails = "pictures of " + order
				return meet(ctx)
			})),
		aggregate.Required("related", meet),
	)
	if err != nil {
		t.Fatalf("got %v, want the three parts to meet", err)
	}
	if thumbnails != "pictures of o-1" {
		t.Errorf("got thumbnails %q, want them to see the order", thumbnails)
	}
}

// TestRunDeadline: a part still running at the context's deadline ends
// with it, an optional one is then left out, and Run returns on time.
func TestRunDeadline(t *testing.T) {
	c := &counter{}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	degraded, err := aggregate.New(c).Run(ctx,
		aggregate.Required("product", fails(nil, 0)),
		aggregate.Optional("related", fails(nil, time.Hour)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, want about the 50ms deadline", took)
	}
	if !reflect.DeepEqual(degraded, []string{"related"}) {
		t.Errorf("got degraded %q, want [related]", degraded)
	}

	var sawDeadline atomic.Bool
	_, err = aggregate.New(nil).Run(context.Background(), aggregate.Required("user", func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return nil
	}))
	if err != nil || sawDeadline.Load() {
		t.Errorf("no deadline: got error %v, deadline %v; want no error and no deadline", err, sawDeadline.Load())
	}
}

// TestRunWaitsForEveryPart: after a required failure the other parts are
// cancelled, and Run returns only once they have returned, so that nothing
// writes to the caller's variables afterwards.
func TestRunWaitsForEveryPart(t *testing.T) {
	var related []string
	_, err := aggregate.New(nil).Run(context.Background(),
		aggregate.Required("product", fails(errDown, 0)),
		aggregate.Optional("related", func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			related = append(related, "late")
			return ctx.Err()
		}),
	)
	if !errors.Is(err, errDown) {
		t.Fatalf("got %v, want %v", err, errDown)
	}
	if !reflect.DeepEqual(related, []string{"late"}) {
		t.Errorf("got %q, want the cancelled part to have returned before Run", related)
	}
}

// TestRunPanics: a part's panic is raised again in the caller's goroutine,
// where the server's recovery turns it into a 500, naming the part, whether
// the part ran on a goroutine of its own or on the caller's (the last part
// given).
func TestRunPanics(t *testing.T) {
	boom := func(context.Context) error { panic("boom") }
	tests := []struct {
		name  string
		parts []aggregate.Part
	}{
		{"on the caller's goroutine", []aggregate.Part{
			aggregate.Required("product", fails(nil, 0)),
			aggregate.Optional("related", boom),
		}},
		{"on a goroutine of its own", []aggregate.Part{
			aggregate.Optional("related", boom),
			aggregate.Required("product", fails(nil, 0)),
		}},
		{"chained", []aggregate.Part{
			aggregate.Required("product", fails(nil, 0)).Then(aggregate.Optional("related", boom), aggregate.Optional("reviews", fails(nil, 0))),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if s, _ := v.(string); !strings.Contains(s, `part "related" panicked: boom`) {
					t.Errorf("got panic %v, want the part's", v)
				}
			}()
			_, _ = aggregate.New(nil).Run(context.Background(), tt.parts...)
			t.Error("Run returned, want it to panic")
		})
	}
}
