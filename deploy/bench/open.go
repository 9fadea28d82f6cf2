package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// rssSettle is how long after an open-loop run the BFF's RSS is read
// again: the memory a spike took should be back by then.
const rssSettle = 15 * time.Second

// openRow is one endpoint's line of the open-loop report.
type openRow struct {
	target
	// Skipped says why the endpoint was not measured; empty when it was.
	Skipped string
	Result  openResult
	// CPU is the CPU time each process used during the run, in cores.
	CPU []cpuShare
	// RSS is the BFF's VmRSS just before the run, the highest sampled
	// during it and the one rssSettle after it, in bytes; -1 when unknown
	// or not a BFF.
	RSS memory
	// Anon is the same for RssAnon: the process's own memory, without the
	// files it maps, such as the state file every checkout is journaled in.
	Anon memory
	// Checkout is what a client placing one order after another on the
	// same BFF saw during a browse run; nil for a checkout run. Admission
	// control should shed the browsing, not these.
	Checkout *loadResult
	// Capacity is the endpoint's req/s in the closed loop the rate is a
	// multiple of; 0 for a rate given in req/s.
	Capacity float64
}

// memory is a process's memory before, during (its peak) and after a run.
type memory struct{ Before, Peak, After int64 }

var unknownMemory = memory{-1, -1, -1}

func (m memory) String() string { return mib(m.Before) + " / " + mib(m.Peak) + " / " + mib(m.After) }

// runOpen drives every selected endpoint open loop, at cfg.Rate or, given
// capacities (BENCH_RATE's multiples), at each multiple of the endpoint's
// capacity, and prints the open-loop report. The direct baseline runs only
// when selected: an open loop has no efficiency to divide; the reference
// rows and the checkout latency never do (closedLoopOnly). It fails as run
// does.
func runOpen(ctx context.Context, s *session, cfg config, capacity map[string]float64, stdout, stderr io.Writer) error {
	var rows []openRow
	for i, ep := range endpoints(s.st, s.fx, cfg.ProductID) {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, ep.Key) || len(cfg.Only) == 0 && ep.Direct || ep.Reference {
			continue
		}
		type pass struct {
			name           string
			rate, capacity float64
		}
		passes := []pass{{ep.Name, cfg.Rate, 0}}
		if capacity != nil {
			passes = passes[:0]
			for _, m := range cfg.Multiples {
				if c := capacity[ep.Key]; c > 0 {
					passes = append(passes, pass{fmt.Sprintf("%s at %gx", ep.Name, m), m * c, c})
				}
			}
		}
		for j, p := range passes {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(stderr, "bench: %s for %s at %.0f req/s, then %s for the RSS to settle\n", p.name, cfg.Duration, p.rate, rssSettle)
			t := ep.target
			t.Name = p.name
			r, err := measureOpen(ctx, t, checkoutDuring(ep.target, s.fx, cfg.ProductID), p.rate, cfg, s.pids, fmt.Sprintf("bench-%s-%d-%d-", s.runID, i, j))
			if err != nil {
				return err
			}
			r.Capacity = p.capacity
			rows = append(rows, r)
			if err := s.st.check(); err != nil {
				writeOpenReport(stdout, cfg, rows)
				return err
			}
		}
	}
	writeOpenReport(stdout, cfg, rows)
	if ctx.Err() != nil {
		return errors.New("interrupted; the figures above are partial")
	}
	return openVerdict(rows, cfg.CI)
}

// checkoutDuring returns the checkout a client places one after another on
// t's BFF while t is driven, or nil when t is itself a write or no BFF's.
func checkoutDuring(t target, fx fixtures, productID int64) *target {
	if t.Direct || t.Method != "GET" {
		return nil
	}
	path := "/v1/orders"
	if strings.HasPrefix(t.Server, "bff-web") {
		path = "/api/orders"
	}
	return &target{Name: "POST " + path + " one at a time", Server: t.Server, Addr: t.Addr, Method: "POST",
		Paths: []string{path}, Header: [][2]string{{"Authorization", "Bearer " + fx.Token}},
		Body: orderBody(productID), UniqueKey: true}
}

// measureOpen drives one endpoint open loop, and checkout (when not nil)
// one request after another beside it, and reads the BFF's memory before,
// during and rssSettle after, its connections closed by then, as a spike's
// clients would go away.
func measureOpen(ctx context.Context, t target, checkout *target, rate float64, cfg config, pids map[string]int, keyPrefix string) (openRow, error) {
	r := openRow{target: t, RSS: unknownMemory, Anon: unknownMemory}
	l := newLoader(t.Addr, openConns, cfg.Timeout)
	defer l.close()
	if err := l.probe(t, keyPrefix); errors.Is(err, errRouteMissing) {
		r.Skipped = err.Error()
		return r, nil
	} else if err != nil {
		return r, err
	}
	bffPID := 0
	if !t.Direct {
		bffPID = pids[t.Server]
		r.RSS.Before, r.Anon.Before = readMemory(bffPID)
	}
	cpu := startCPU(map[string]int{"sandbox": pids["sandbox"], t.Server: pids[t.Server], "bench": os.Getpid()})
	sampler := sampleRSS(bffPID, 50*time.Millisecond)
	checkouts := make(chan loadResult, 1)
	if checkout != nil {
		cl := newLoader(checkout.Addr, 1, cfg.Timeout)
		defer cl.close()
		go func() {
			checkouts <- cl.worker(ctx, *checkout, time.Now().Add(cfg.Duration), 0, keyPrefix+"checkout-", 0)
		}()
	}
	r.Result = l.runOpen(ctx, t, rate, cfg.Duration, openConns, keyPrefix)
	// Read now, over the run's own time: the checkout beside it may go on
	// with its last request, up to the timeout.
	r.CPU = cpu.finish(r.Result.Elapsed)
	if checkout != nil {
		c := <-checkouts
		r.Checkout = &c
	}
	r.RSS.Peak, _, _ = sampler.finish()
	r.Anon.Peak = sampler.peakAnon()
	l.close()
	if bffPID != 0 {
		select {
		case <-ctx.Done():
		case <-time.After(rssSettle):
			r.RSS.After, r.Anon.After = readMemory(bffPID)
		}
	}
	return r, nil
}

// openVerdict fails a run with errors (sheds are not errors: they are what
// an open loop beyond capacity measures), and in CI mode one that skipped
// an endpoint.
func openVerdict(rows []openRow, ci bool) error {
	plain := make([]row, len(rows))
	for i, r := range rows {
		plain[i] = row{target: r.target, Skipped: r.Skipped, Result: r.Result.loadResult}
	}
	return verdict(plain, ci)
}

// writeOpenReport prints the open-loop table and what explains it.
func writeOpenReport(w io.Writer, cfg config, rows []openRow) {
	at := fmt.Sprintf("%.0f req/s", cfg.Rate)
	if len(cfg.Multiples) > 0 {
		at = rateFlag{&cfg}.String() + " each endpoint's capacity (its req/s in the closed loop above)"
	}
	fmt.Fprintf(w, "\nstorefront load benchmark: open loop at %s, %s per endpoint (at most %d in flight), over 127.0.0.1\n",
		at, cfg.Duration, openConns)
	fmt.Fprintf(w, "latency from each request's scheduled time to its answer; goodput: 2xx per second; shed: 503 overloaded per second\n\n")
	writeOpenTable(w, rows)
	writeOpenDetails(w, rows)
	writeOpenTargets(w, rows)
}

func writeOpenTable(w io.Writer, rows []openRow) {
	table := [][]string{{"endpoint", "offered req/s", "goodput req/s", "shed req/s", "errors", "ok p50 ms", "ok p99 ms", "ok max ms",
		"shed p50 ms", "shed p99 ms", "send lag p99 ms", "RSS MiB: before / peak / +" + rssSettle.String(), "anon MiB: before / peak / +" + rssSettle.String()}}
	for _, r := range rows {
		if r.Skipped != "" {
			table = append(table, append([]string{r.Name, "skipped"}, slices.Repeat([]string{"-"}, len(table[0])-2)...))
			continue
		}
		res := r.Result
		table = append(table, []string{
			r.Name,
			fmt.Sprintf("%.0f", res.Offered()),
			fmt.Sprintf("%.0f", res.Goodput()),
			fmt.Sprintf("%.0f", res.ShedRate()),
			fmt.Sprintf("%d", res.Errors),
			msOf(res.Latency, 0.50),
			msOf(res.Latency, 0.99),
			msOf(res.Latency, 1),
			msOf(res.ShedLatency, 0.50),
			msOf(res.ShedLatency, 0.99),
			ms(res.Lag.quantile(0.99)),
			r.RSS.String(),
			r.Anon.String(),
		})
	}
	if slices.ContainsFunc(rows, func(r openRow) bool { return r.Capacity > 0 }) {
		// Goodput as a share of the capacity, after the goodput column.
		table[0] = slices.Insert(table[0], 3, "of capacity")
		for i, r := range rows {
			share := "-"
			if r.Skipped == "" && r.Capacity > 0 {
				share = fmt.Sprintf("%.0f%%", 100*r.Result.Goodput()/r.Capacity)
			}
			table[i+1] = slices.Insert(table[i+1], 3, share)
		}
	}
	writeColumns(w, table)
}

func writeOpenDetails(w io.Writer, rows []openRow) {
	section := sections(w, rows, func(r openRow) string { return r.Name })
	section("CPU used during each run, in cores:", func(r openRow) string { return cpuLine(r.CPU) })
	section("errors (neither 2xx nor 503 overloaded):", func(r openRow) string {
		if r.Skipped != "" || r.Result.Errors == 0 {
			return ""
		}
		return fmt.Sprintf("%s (first: %s)", r.Result.statusCounts(), r.Result.FirstError)
	})
	section("checkouts placed one after another on the same BFF during the run (sheds count as failures):", func(r openRow) string {
		c := r.Checkout
		if r.Skipped != "" || c == nil || c.Requests == 0 {
			return ""
		}
		line := fmt.Sprintf("%d sent, %.1f%% placed, p99 %s ms, max %s ms", c.Requests,
			100*float64(c.Requests-c.Errors)/float64(c.Requests), ms(c.Latency.quantile(0.99)), ms(c.Latency.max))
		if c.Errors > 0 {
			line += fmt.Sprintf(" (%s; first: %s)", c.statusCounts(), c.FirstError)
		}
		return line
	})
	section("skipped:", func(r openRow) string { return r.Skipped })
	section("generator behind schedule (send lag p99 over 1 ms: the latencies include the generator's own delay):", func(r openRow) string {
		if r.Skipped != "" || r.Result.Lag.quantile(0.99) <= time.Millisecond {
			return ""
		}
		return fmt.Sprintf("send lag p99 %s ms, max %s ms", ms(r.Result.Lag.quantile(0.99)), ms(r.Result.Lag.max))
	})
}

// msOf is the quantile q of h in milliseconds, "-" when h is empty.
func msOf(h *histogram, q float64) string {
	if h.total == 0 {
		return "-"
	}
	return ms(h.quantile(q))
}

// readMemory reads pid's VmRSS and RssAnon, -1 for what cannot be read.
func readMemory(pid int) (rss, anon int64) {
	rss, anon = -1, -1
	if v, err := memStatus(pid, "VmRSS"); err == nil {
		rss = v
	}
	if v, err := memStatus(pid, "RssAnon"); err == nil {
		anon = v
	}
	return rss, anon
}
