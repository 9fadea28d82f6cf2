package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	prev := -1
	for v := time.Duration(0); v < 10*time.Second; v = v*11/10 + 1 {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, want at least %d (monotonic)", v, i, prev)
		}
		prev = i
		got := bucketValue(i)
		if diff := math.Abs(float64(got - v)); diff > float64(v)/100 {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, want within 1%%", v, got)
		}
	}
	if i := bucketOf(math.MaxInt64); i >= bucketCount {
		t.Errorf("bucketOf(MaxInt64) = %d, want below %d", i, bucketCount)
	}
}

func TestQuantile(t *testing.T) {
	uniform := &histogram{}
	for i := 1; i <= 10000; i++ {
		uniform.record(time.Duration(i) * time.Microsecond)
	}
	single := &histogram{}
	single.record(1234567)
	tests := []struct {
		name string
		h    *histogram
		q    float64
		want time.Duration
	}{
		{"uniform p50", uniform, 0.50, 5000 * time.Microsecond},
		{"uniform p99", uniform, 0.99, 9900 * time.Microsecond},
		{"uniform p99.9", uniform, 0.999, 9990 * time.Microsecond},
		{"uniform p100 is the max", uniform, 1, 10000 * time.Microsecond},
		{"uniform p0 is the min", uniform, 0, time.Microsecond},
		{"one sample is exact", single, 0.99, 1234567},
		{"empty", &histogram{}, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.quantile(tt.q)
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/100 {
				t.Errorf("quantile(%v) = %v, want %v within 1%%", tt.q, got, tt.want)
			}
		})
	}
}

func TestMergeEqualsRecordingAll(t *testing.T) {
	a, b, all := &histogram{}, &histogram{}, &histogram{}
	for i := range 5000 {
		v := time.Duration(i*i) * time.Nanosecond
		all.record(v)
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	merged := &histogram{}
	merged.merge(a)
	merged.merge(b)
	merged.merge(&histogram{})
	if merged.total != all.total || merged.min != all.min || merged.max != all.max || merged.mean() != all.mean() {
		t.Fatalf("merged total/min/max/mean = %d/%v/%v/%v, want %d/%v/%v/%v",
			merged.total, merged.min, merged.max, merged.mean(), all.total, all.min, all.max, all.mean())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if got, want := merged.quantile(q), all.quantile(q); got != want {
			t.Errorf("merged quantile(%v) = %v, want %v", q, got, want)
		}
	}
}

func TestMean(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   time.Duration
	}{
		{"empty", nil, 0},
		{"one", []time.Duration{3 * time.Millisecond}, 3 * time.Millisecond},
		{"exact, not the buckets' middles", []time.Duration{1000, 2001, 3002}, 2001},
	}
	for _, tt := range tests {
		h := &histogram{}
		for _, v := range tt.values {
			h.record(v)
		}
		if got := h.mean(); got != tt.want {
			t.Errorf("%s: mean = %v, want %v", tt.name, got, tt.want)
		}
	}
}
