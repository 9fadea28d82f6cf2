package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixedResult is a run of n requests over 5 s whose latencies are spread
// evenly from lo to hi.
func fixedResult(n uint64, lo, hi time.Duration) loadResult {
	h := &histogram{}
	for i := range n {
		h.record(lo + (hi-lo)*time.Duration(i)/time.Duration(n))
	}
	return loadResult{Requests: n, Elapsed: 5 * time.Second, Latency: h, Statuses: map[int]uint64{}}
}

func sampleRows() []row {
	direct := row{target: target{Name: "GET /products/{id} (direct)", Direct: true}, PeakRSS: -1, HWM: -1,
		Result: fixedResult(50000, time.Millisecond, 5*time.Millisecond),
		Calls:  counts{"product GET /products/{id}": 50000},
		CPU:    []cpuShare{{"bench", 0.5}, {"sandbox", 1.25}}, BaseRPS: 10000}
	direct.Result.Bytes = 50000 * 852
	skipped := row{target: target{Name: "GET /v1/products/{id}"}, PeakRSS: -1, HWM: -1,
		Skipped: "route not served: GET /v1/products/{id} answered 404"}
	order := row{target: target{Name: "GET /api/orders/{id}", Aggregate: true}, PeakRSS: 30 << 20, HWM: 31 << 20,
		Result: fixedResult(10000, 2*time.Millisecond, 40*time.Millisecond),
		Calls:  counts{"order GET /orders/{id}": 10000, "payment GET /payments/{id}": 10000, "product GET /products": 5000}}
	order.Result.Bytes = 10000 * 742
	order.RSS = []rssSample{{0, 20 << 20}, {time.Second, 25 << 20}, {2 * time.Second, 30 << 20}}
	place := row{target: target{Name: "POST /v1/orders"}, PeakRSS: 45 << 20, HWM: 46 << 20, BaseRPS: 8000,
		Result: fixedResult(8000, 5*time.Millisecond, 20*time.Millisecond),
		Calls:  counts{"order POST /orders": 8000}}
	place.Result.Errors, place.Result.Statuses[409] = 2, 2
	place.Result.FirstError = `409 {"code":"out_of_stock"}`
	place.Result.Bytes = 7998 * 141
	return []row{direct, skipped, order, place}
}

func TestReportGolden(t *testing.T) {
	var b bytes.Buffer
	rows := sampleRows()
	writeTable(&b, rows)
	writeDetails(&b, rows, true)
	checkGolden(t, "report.golden", b.Bytes())
}

func TestEfficiency(t *testing.T) {
	rows := sampleRows()
	tests := []struct {
		name string
		r    row
		rows []row
		want float64
	}{
		{"baseline against itself", rows[0], rows, 1},
		{"aggregate: 2000 req/s × 2.5 calls ÷ 10000", rows[2], rows, 0.5},
		{"its own baseline: 1600 req/s × 1 call ÷ 8000", rows[3], rows, 0.2},
		{"no baseline measured", rows[2], rows[1:], math.NaN()},
		{"baseline skipped", rows[2], []row{{target: target{Direct: true}, Skipped: "404"}}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := efficiency(tt.r, tt.rows)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("efficiency = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	rows := sampleRows()
	tests := []struct {
		name    string
		rows    []row
		ci      bool
		wantErr bool
	}{
		{"clean", rows[:1], false, false},
		{"skipped is fine outside ci", rows[:3], false, false},
		{"skipped fails ci", rows[:3], true, true},
		{"errors fail", rows, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verdict(tt.rows, tt.ci); (err != nil) != tt.wantErr {
				t.Errorf("verdict = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// checkGolden compares a report with testdata/name; go test -update
// rewrites the file.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
