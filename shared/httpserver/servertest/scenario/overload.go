package scenario

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// overloadShedsBrowsingNotCheckout floods the BFF with anonymous product
// reads, each held up by a slow product service, while Ada places orders:
// with a concurrency limit of 4 to 16, the reads over their share get an
// immediate 503 overloaded with Retry-After, and no other 5xx; every order
// succeeds; sheds are counted by class; and once it is quiet again no
// goroutine of the BFF's code is left over from the flood.
func overloadShedsBrowsingNotCheckout(t *testing.T, sh Shop) {
	s, ada := sh.ada(t,
		"ADMISSION_INITIAL_LIMIT", "8", "ADMISSION_MIN_LIMIT", "4", "ADMISSION_MAX_LIMIT", "16",
		// Every read reaches the slow product service.
		"CACHE_PRODUCT_TTL", "0s", "CACHE_STOCK_TTL", "0s", "CACHE_LIST_TTL", "0s")
	// A first order and page before counting goroutines: what the BFF
	// starts once (connections, workers) is not a leak.
	if r := sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(2, 1))); r.Status != 201 {
		t.Fatalf("first order: status %d, body %s", r.Status, r.Body)
	}
	if r := servertest.Do(t, "GET", s.Base+sh.Products+"/1", nil); r.Status != 200 {
		t.Fatalf("first product page: status %d, body %s", r.Status, r.Body)
	}
	before, _ := ownGoroutines()

	s.Inject(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteProduct, LatencyMS: 200})
	const orders = 5
	fl := flood(t, s, sh, func() {
		// Orders while reads are being shed: every one is placed.
		for i := range orders {
			if r := sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(3, 1))); r.Status != 201 {
				t.Errorf("order %d during the flood: status %d, body %s", i+1, r.Status, r.Body)
			}
		}
	})
	statuses, failures, shedDuring := fl.statuses, fl.failures, fl.shedDuring

	t.Logf("reads answered %v; %d shed while the orders were placed", statuses, shedDuring)
	for _, f := range failures {
		t.Error(f)
	}
	for status, n := range statuses {
		if status != 200 && status != 503 {
			t.Errorf("%d reads answered %d, want only 200 or 503 overloaded", n, status)
		}
	}
	if statuses[200] == 0 || statuses[503] == 0 || shedDuring == 0 {
		t.Errorf("reads %v, %d shed while the orders were placed; want some served and some shed throughout", statuses, shedDuring)
	}
	checkShedMetrics(t, s, statuses[503])

	s.Settle(t, servertest.KeepClock)
	checkNoLeftovers(t, before)
	if got := len(s.CheckInvariants(t).Order.Orders); got != orders+1 {
		t.Errorf("got %d orders, want %d", got, orders+1)
	}
}

// flooded is what a flood of anonymous reads was answered.
type flooded struct {
	statuses   map[int]int
	failures   []string
	shedDuring int64
}

// flood sends anonymous product reads from many readers, far more than the
// anonymous share of the limit (at most 8), until the first is shed; then
// it runs during and stops the flood. A product page holds its place for
// the product service's injected latency.
func flood(t *testing.T, s *servertest.Stack, sh Shop, during func()) flooded {
	t.Helper()
	const readers = 32
	var (
		stop     = make(chan struct{})
		shedSeen = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
		mu       sync.Mutex
		out      = flooded{statuses: map[int]int{}}
		sheds    atomic.Int64
	)
	for i := range readers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := servertest.Send("GET", fmt.Sprintf("%s%s/%d", s.Base, sh.Products, 1+(i+n)%40), nil)
				mu.Lock()
				out.statuses[r.Status]++
				if msg := shedProblem(r, err); msg != "" && len(out.failures) < 5 {
					out.failures = append(out.failures, msg)
				}
				mu.Unlock()
				if r.Status == 503 {
					sheds.Add(1)
					once.Do(func() { close(shedSeen) })
					// Back again soon, not at once: enough to keep the
					// share full without churning through connections.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	select {
	case <-shedSeen:
	case <-time.After(30 * time.Second): // a bound on the test, not a timing assertion
		close(stop)
		wg.Wait()
		t.Fatalf("no read shed by %d readers; statuses %v", readers, out.statuses)
	}
	shedBefore := sheds.Load()
	during()
	out.shedDuring = sheds.Load() - shedBefore
	close(stop)
	wg.Wait()
	return out
}

// checkShedMetrics: the sheds are counted by class, none of checkout, and
// the limit stayed within its bounds.
func checkShedMetrics(t *testing.T, s *servertest.Stack, shed int) {
	t.Helper()
	metrics := servertest.Metrics(t, s.Base)
	if n := metricValue(metrics, `bff_admission_shed_total{class="anonymous"}`); n < float64(shed) {
		t.Errorf("bff_admission_shed_total{class=\"anonymous\"} = %v, want the %d reads shed", n, shed)
	}
	if !strings.Contains(metrics, `bff_admission_shed_total{class="checkout"} 0`) {
		t.Errorf("metrics count a checkout shed:\n%s", grepLines(metrics, "bff_admission_"))
	}
	if limit := metricValue(metrics, "bff_admission_limit"); limit < 4 || limit > 16 {
		t.Errorf("bff_admission_limit = %v, want 4..16", limit)
	}
}

// shedProblem says what is wrong with a read's answer, "" when it is a
// 200 or a well-formed shed: 503, problem+json, code overloaded and a
// Retry-After of whole seconds, at least one.
func shedProblem(r servertest.Response, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case r.Status != 503:
		return ""
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") || !strings.Contains(string(r.Body), `"code":"overloaded"`):
		return fmt.Sprintf("a 503 that is not an overloaded problem: %s %s", r.Header.Get("Content-Type"), r.Body)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		return fmt.Sprintf("a shed read with Retry-After %q, want whole seconds, at least 1", r.Header.Get("Retry-After"))
	}
	return ""
}

// metricValue is the value of the sample named exactly name (with its
// labels) in a Prometheus text exposition; 0 when absent.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// checkNoLeftovers waits for the goroutines running the project's code to
// be no more than before, and fails t with the extra ones if they are
// still there after 15s: a request must not leave work behind it.
func checkNoLeftovers(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // a bound on the test, not a timing assertion
	for {
		n, stacks := ownGoroutines()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines run the project's code once the flood is over, want at most the %d before it:\n%s",
				n, before, strings.Join(stacks, "\n\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownGoroutine matches a stack that runs, or was started by, the project's
// code; idle connections and pool workers of the libraries do not.
var ownGoroutine = regexp.MustCompile(`(?m)^(created by )?storefront\.dev/`)

// ownGoroutines counts the goroutines of this process (the BFF, the
// sandbox and the test) whose stack holds the project's code, and returns
// their stacks.
func ownGoroutines() (int, []string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var own []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if ownGoroutine.MatchString(g) {
			own = append(own, g)
		}
	}
	return len(own), own
}
