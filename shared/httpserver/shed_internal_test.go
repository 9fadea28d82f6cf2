package httpserver

import (
	"testing"
	"time"
)

// TestShedLines: the first shed gets a line; those within the next second
// do not, and the first after it gets one counting them.
func TestShedLines(t *testing.T) {
	var l shedLines
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at           time.Duration
		ok           bool
		wantUnlogged int64
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for _, st := range steps {
		n, ok := l.allow(t0.Add(st.at))
		if ok != st.ok || n != st.wantUnlogged {
			t.Errorf("at %v: allow = %d, %v; want %d, %v", st.at, n, ok, st.wantUnlogged, st.ok)
		}
	}
}
