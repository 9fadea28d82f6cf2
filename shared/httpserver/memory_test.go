package httpserver

import "testing"

// TestSpikeWatch: memory is returned once when a spike of goroutines has
// passed, and not for the ups and downs of a steady load.
func TestSpikeWatch(t *testing.T) {
	steps := []struct {
		goroutines int
		want       bool
	}{
		{40, false},
		{300, false},
		{60, false}, // 240 gone: not a spike worth a collection
		{1200, false},
		{900, false}, // 300 gone, but three quarters still there
		{500, true},  // 700 gone, more than half
		{480, false}, // counted from 500 now
		{2000, false},
		{1800, false},
		{40, true},
	}
	var w spikeWatch
	for i, st := range steps {
		if got := w.passed(st.goroutines); got != st.want {
			t.Errorf("step %d (%d goroutines): passed %v, want %v", i, st.goroutines, got, st.want)
		}
	}
}
