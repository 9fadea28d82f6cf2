package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestManual(t *testing.T) {
	tests := []struct {
		name string
		move func(*clocktest.Manual)
		want time.Time
	}{
		{"unmoved", func(*clocktest.Manual) {}, t0},
		{"advance", func(m *clocktest.Manual) { m.Advance(90 * time.Second) }, t0.Add(90 * time.Second)},
		{"advance twice", func(m *clocktest.Manual) { m.Advance(time.Second); m.Advance(time.Hour) }, t0.Add(time.Hour + time.Second)},
		{"set back", func(m *clocktest.Manual) { m.Set(t0.Add(-time.Minute)) }, t0.Add(-time.Minute)},
		{"set then advance", func(m *clocktest.Manual) { m.Set(t0.AddDate(1, 0, 0)); m.Advance(time.Millisecond) }, t0.AddDate(1, 0, 0).Add(time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := clocktest.New(t0)
			tt.move(m)
			if got := m.Now(); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestManualConcurrent lets the race detector check that readers and
// movers may share a clock, as a server under test and its test do.
func TestManualConcurrent(t *testing.T) {
	m := clocktest.New(t0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				m.Advance(time.Millisecond)
				_ = m.Now()
			}
		})
	}
	wg.Wait()
	if got, want := m.Now(), t0.Add(400*time.Millisecond); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
