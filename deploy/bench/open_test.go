package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunOpenSchedulesEveryRequest: rate × duration requests are sent,
// each with its own Idempotency-Key, and every 2xx is a success.
func TestRunOpenSchedulesEveryRequest(t *testing.T) {
	rec, addr := startRecorder(t)
	l := newLoader(addr, openConns, time.Second)
	defer l.close()
	tg := target{Name: "POST", Addr: addr, Method: "POST", Paths: []string{"/orders"}, Body: []byte(`{}`), UniqueKey: true}
	res := l.runOpen(context.Background(), tg, 400, 250*time.Millisecond, 8, "open-")
	if res.Requests != 100 || res.Errors != 0 || res.Shed != 0 || res.Latency.total != 100 || res.Lag.total != 100 {
		t.Errorf("requests %d errors %d shed %d latencies %d lags %d, want 100 successes", res.Requests, res.Errors, res.Shed, res.Latency.total, res.Lag.total)
	}
	if got := res.Offered(); got != 400 {
		t.Errorf("offered %v req/s, want 400", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.keys) != 100 {
		t.Errorf("%d distinct keys, want 100", len(rec.keys))
	}
}

// TestRunOpenCountsShedsApart: a 503 overloaded is a shed, any other 503
// an error; only successes are in Latency.
func TestRunOpenCountsShedsApart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/shed":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":503,"code":"overloaded"}`))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":503,"code":"upstream_unavailable"}`))
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	l := newLoader(addr, openConns, time.Second)
	defer l.close()
	res := l.runOpen(context.Background(), target{Name: "mix", Addr: addr, Method: "GET", Paths: []string{"/ok", "/shed", "/down", "/shed"}},
		400, 100*time.Millisecond, 4, "")
	if res.Requests != 40 || res.Shed != 20 || res.Errors != 10 || res.Statuses[503] != 10 {
		t.Errorf("requests %d shed %d errors %d (503×%d), want 40, 20 shed, 10 errors (503)", res.Requests, res.Shed, res.Errors, res.Statuses[503])
	}
	if res.Latency.total != 10 || res.ShedLatency.total != 20 {
		t.Errorf("%d success and %d shed latencies, want 10 and 20", res.Latency.total, res.ShedLatency.total)
	}
	if got, want := res.ShedRate(), 2*res.Goodput(); got != want || res.Goodput() > 100 {
		t.Errorf("goodput %v and shed rate %v, want at most 100 and twice as many shed", res.Goodput(), got)
	}
}

// TestRunOpenMeasuresFromTheSchedule: a server that answers one request
// at a time, each after 20ms, is sent 40 requests scheduled over 200ms.
// It cannot answer the last before 800ms have passed, 600ms after that
// request was due: its latency says so, where a closed loop would report
// 20ms a request (coordinated omission).
func TestRunOpenMeasuresFromTheSchedule(t *testing.T) {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	l := newLoader(addr, openConns, 5*time.Second)
	defer l.close()
	res := l.runOpen(context.Background(), target{Name: "serial", Addr: addr, Method: "GET", Paths: []string{"/"}}, 200, 200*time.Millisecond, 64, "")
	if res.Requests != 40 || res.Errors != 0 {
		t.Fatalf("requests %d errors %d (%s), want 40 answered", res.Requests, res.Errors, res.FirstError)
	}
	if got, least := res.Latency.max, 40*20*time.Millisecond-195*time.Millisecond; got < least {
		t.Errorf("longest latency %v, want at least %v: the wait for the server counts", got, least)
	}
}

func TestOpenReportGolden(t *testing.T) {
	served := newOpenResult()
	served.Rate, served.Scheduled = 2000, 10*time.Second
	for i := range 12000 {
		served.Latency.record(time.Millisecond + time.Duration(i)*time.Microsecond)
		served.Lag.record(100 * time.Microsecond)
	}
	for i := range 7990 {
		served.ShedLatency.record(200*time.Microsecond + time.Duration(i)*10*time.Nanosecond)
		served.Lag.record(100 * time.Microsecond)
	}
	served.Requests, served.Shed, served.Errors, served.Statuses[504] = 20000, 7990, 10, 10
	served.FirstError = `504 {"code":"deadline_exceeded"}`
	behind := newOpenResult()
	behind.Rate, behind.Scheduled = 2000, 10*time.Second
	for range 20000 {
		behind.Latency.record(40 * time.Millisecond)
		behind.Lag.record(30 * time.Millisecond)
	}
	behind.Requests = 20000
	checkouts := loadResult{Requests: 200, Errors: 3, Statuses: map[int]uint64{503: 3}, Latency: &histogram{},
		FirstError: `503 {"code":"overloaded"}`}
	for i := range 200 {
		checkouts.Latency.record(20*time.Millisecond + time.Duration(i)*100*time.Microsecond)
	}
	rows := []openRow{
		{target: target{Name: "POST /v1/orders"}, Result: served, RSS: memory{40 << 20, 78 << 20, 74 << 20}, Anon: memory{20 << 20, 38 << 20, 21 << 20},
			CPU: []cpuShare{{"bench", 0.4}, {"bff-mobile", 0.9}, {"sandbox", 0.6}}},
		{target: target{Name: "GET /api/products/{id} (cache off)"}, Result: behind, RSS: memory{18 << 20, 30 << 20, 19 << 20}, Anon: memory{16 << 20, 28 << 20, 17 << 20},
			Checkout: &checkouts},
		{target: target{Name: "GET /v1/products/{id}"}, Skipped: "route not served: GET /v1/products/{id} answered 404", RSS: unknownMemory, Anon: unknownMemory},
	}
	var b bytes.Buffer
	writeOpenTable(&b, rows)
	writeOpenDetails(&b, rows)
	writeOpenTargets(&b, rows)
	checkGolden(t, "open_report.golden", b.Bytes())
	if err := openVerdict(rows[:1], false); err == nil {
		t.Errorf("openVerdict of a row with errors = nil, want an error")
	}
	if err := openVerdict(rows[1:2], false); err != nil {
		t.Errorf("openVerdict of a clean row = %v, want nil", err)
	}
}

// TestOpenTableCapacity: rows driven at multiples of a capacity get a
// column saying what share of it their goodput was; a skipped row a dash.
func TestOpenTableCapacity(t *testing.T) {
	res := newOpenResult()
	res.Rate, res.Scheduled = 1500, 10*time.Second
	for range 7400 {
		res.Latency.record(50 * time.Millisecond)
	}
	res.Requests, res.Shed = 15000, 7600
	rows := []openRow{
		{target: target{Name: "GET /api/orders/{id} at 2x"}, Result: res, Capacity: 750, RSS: unknownMemory, Anon: unknownMemory},
		{target: target{Name: "GET /v1/products/{id} at 2x"}, Skipped: "route not served", Capacity: 900, RSS: unknownMemory, Anon: unknownMemory},
	}
	var b bytes.Buffer
	writeOpenTable(&b, rows)
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "goodput req/s  of capacity  shed req/s") {
		t.Fatalf("header %q, want an \"of capacity\" column after the goodput", lines[0])
	}
	// 7,400 answers over 10 s against a capacity of 750 req/s.
	if !slices.Contains(strings.Fields(lines[1]), "99%") {
		t.Errorf("served row %q, want 99%% of capacity", lines[1])
	}
	if f := strings.Fields(lines[2]); !slices.Contains(f, "skipped") || slices.ContainsFunc(f, func(s string) bool { return strings.HasSuffix(s, "%") }) {
		t.Errorf("skipped row %q, want no share of capacity", lines[2])
	}
}

func TestCheckoutDuring(t *testing.T) {
	fx := fixtures{Token: "tok"}
	for _, tc := range []struct {
		t    target
		want string // path of the checkout, "" for none
	}{
		{target{Server: "bff-web-nocache", Method: "GET"}, "/api/orders"},
		{target{Server: "bff-mobile", Method: "GET"}, "/v1/orders"},
		{target{Server: "bff-mobile", Method: "POST"}, ""},
		{target{Server: "sandbox", Method: "GET", Direct: true}, ""},
	} {
		got := checkoutDuring(tc.t, fx, 7)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("checkoutDuring(%s %s) = %s, want none", tc.t.Method, tc.t.Server, got.Paths[0])
		case tc.want != "" && (got == nil || got.Paths[0] != tc.want || !got.UniqueKey || got.Header[0][1] != "Bearer tok"):
			t.Errorf("checkoutDuring(%s %s) = %+v, want a keyed, signed-in POST %s", tc.t.Method, tc.t.Server, got, tc.want)
		}
	}
}

// TestOpenMisses: each open-loop target is missed on its own figure; a
// row driven at a rate has no goodput target, one of no BFF no memory one.
func TestOpenMisses(t *testing.T) {
	res := newOpenResult()
	res.Rate, res.Scheduled = 4000, 10*time.Second
	for i := range 8000 {
		res.Latency.record(time.Duration(i) * time.Millisecond / 4) // p99 near 1.98 s, max 2 s less a quarter ms
	}
	res.Latency.record(2500 * time.Millisecond)
	for range 100 {
		res.ShedLatency.record(80 * time.Millisecond)
	}
	res.Requests, res.Shed = 8101, 100
	checkouts := loadResult{Requests: 20, Errors: 2, Statuses: map[int]uint64{503: 2}, Latency: &histogram{}}
	checkouts.Latency.record(10 * time.Millisecond)
	row := openRow{target: target{Name: "GET /v1/products/{id} at 4x"}, Result: res, Capacity: 1000,
		RSS: memory{30 << 20, 160 << 20, 70 << 20}, Anon: memory{10 << 20, 40 << 20, 12 << 20}, Checkout: &checkouts}
	got := strings.Join(openMisses([]openRow{row}), "\n")
	for _, want := range []string{"goodput 80.0% of capacity", "ok p99 ", "an answer after 2500.00 ms", "shed p99 80.00 ms",
		"peak RSS 160.0 MiB (anon 40.0)", "RSS 70.0 MiB 15s after, from 30.0 MiB (anon 12.0 from 10.0)", "checkouts 90.0% placed"} {
		if !strings.Contains(got, want) {
			t.Errorf("misses %q, want %q among them", got, want)
		}
	}
	row.Capacity, row.RSS, row.Anon, row.Checkout = 0, unknownMemory, unknownMemory, nil
	row.Result = newOpenResult()
	row.Result.Requests = 10
	for range 10 {
		row.Result.Latency.record(time.Millisecond)
	}
	if got := openMisses([]openRow{row}); len(got) != 0 {
		t.Errorf("misses of a clean row driven at a rate: %q, want none", got)
	}
}
