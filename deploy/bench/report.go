package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The targets, checked under the table. They are not asserted:
// a shared two-core machine is too noisy for a hard gate.
const (
	targetP99        = 25 * time.Millisecond
	targetRSS        = 40 << 20
	targetEfficiency = 0.5
)

// writeReport prints the machine, the table and what explains it; cl is
// the checkout latency, nil when it was not measured.
func writeReport(w io.Writer, cfg config, rows []row, cl *checkoutLatency) {
	fmt.Fprintf(w, "\nstorefront load benchmark: %d connections, %s per endpoint, closed loop over 127.0.0.1\n",
		cfg.Conns, cfg.Duration)
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s; the generator, the sandbox, both BFFs and the reference share them\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	writeBody(w, rows, cl, bodyOf(cfg))
}

// body is what a report's body shows besides its rows.
type body struct {
	// soak prints the RSS over each run.
	soak bool
	// unassessed says why the p99 and RSS targets, set for the default
	// load, are not assessed ("32 connections"); "" when they are.
	unassessed string
}

// bodyOf is the body a run of cfg reports: the p99 and RSS targets hold
// at the default 64 connections without a fault only.
func bodyOf(cfg config) body {
	b := body{soak: cfg.Soak > 0}
	switch def := defaultConfig(); {
	case cfg.Conns != def.Conns:
		b.unassessed = fmt.Sprintf("%d connections", cfg.Conns)
	case cfg.Fault != "":
		b.unassessed = "a fault injected"
	}
	return b
}

// writeBody prints everything but the header: what does not depend on the
// machine the report is printed on.
func writeBody(w io.Writer, rows []row, cl *checkoutLatency, b body) {
	writeTable(w, rows)
	writeDetails(w, rows, b.soak)
	writeComparison(w, rows)
	if cl != nil {
		writeCheckoutLatency(w, *cl)
	}
	writeTargets(w, rows, cl, b.unassessed)
}

// efficiency is (req/s × upstream calls per request) ÷ the direct
// baseline's req/s: the share of the upstream's own capacity the BFF turns
// into upstream work. The baseline is the one measured just before the row,
// else the direct row's; NaN without either.
func efficiency(r row, rows []row) float64 {
	if r.BaseRPS > 0 {
		return r.Result.RPS() * r.CallsPerRequest() / r.BaseRPS
	}
	for _, d := range rows {
		if d.Direct && d.Skipped == "" && d.Result.RPS() > 0 {
			return r.Result.RPS() * r.CallsPerRequest() / d.Result.RPS()
		}
	}
	return math.NaN()
}

func writeTable(w io.Writer, rows []row) {
	table := [][]string{{"endpoint", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors",
		"peak RSS MiB", "HWM MiB", "bytes/resp", "upstream/req", "base req/s", "efficiency"}}
	for _, r := range rows {
		if r.Skipped != "" {
			table = append(table, []string{r.Name, "skipped", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		res := r.Result
		bytesPer, baseRPS := "-", "-"
		if r.BaseRPS > 0 {
			baseRPS = fmt.Sprintf("%.0f", r.BaseRPS)
		}
		if ok := res.Requests - res.Errors; ok > 0 {
			bytesPer = fmt.Sprintf("%d", res.Bytes/ok)
		}
		table = append(table, []string{
			r.Name,
			fmt.Sprintf("%.0f", res.RPS()),
			ms(res.Latency.quantile(0.50)),
			ms(res.Latency.quantile(0.99)),
			ms(res.Latency.quantile(0.999)),
			fmt.Sprintf("%d", res.Errors),
			mib(r.PeakRSS),
			mib(r.HWM),
			bytesPer,
			fmt.Sprintf("%.2f", r.CallsPerRequest()),
			baseRPS,
			ratio(efficiency(r, rows)),
		})
	}
	writeColumns(w, table)
}

// writeColumns aligns the first column left and the others right.
func writeColumns(w io.Writer, table [][]string) {
	var widths []int
	for _, line := range table {
		for i, cell := range line {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, line := range table {
		var b strings.Builder
		for i, cell := range line {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if i == 0 {
				b.WriteString(cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

func writeDetails(w io.Writer, rows []row, soak bool) {
	section := sections(w, rows, func(r row) string { return r.Name })
	section("upstream calls per request, by service and route:", func(r row) string {
		if r.Skipped != "" || r.Result.Requests == 0 {
			return ""
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Calls)) {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(r.Calls[k])/float64(r.Result.Requests)))
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	})
	section("CPU used during each run, in cores:", func(r row) string { return cpuLine(r.CPU) })
	section("errors:", func(r row) string {
		if r.Skipped != "" || r.Result.Errors == 0 {
			return ""
		}
		return fmt.Sprintf("%s (first: %s)", r.Result.statusCounts(), r.Result.FirstError)
	})
	section("skipped:", func(r row) string { return r.Skipped })
	if soak {
		section("RSS over the run, MiB at each tenth:", func(r row) string { return rssTimeline(r.RSS, 10) })
	}
}

// writeTargets prints the targets that apply to what was measured, then
// each miss; the p99 and RSS targets only when unassessed is "".
func writeTargets(w io.Writer, rows []row, cl *checkoutLatency, unassessed string) {
	targets := []string{fmt.Sprintf("p99 < %s, 0 errors, BFF peak RSS < %s MiB, efficiency ≥ %.1f on aggregating endpoints",
		targetP99, mib(targetRSS), targetEfficiency)}
	if unassessed != "" {
		targets[0] = fmt.Sprintf("0 errors, efficiency ≥ %.1f on aggregating endpoints (p99 and RSS targets not assessed: %s)",
			targetEfficiency, unassessed)
	}
	var cpu []string
	for _, c := range comparisons {
		if _, _, ok := c.rows(rows); ok {
			cpu = append(cpu, fmt.Sprintf("≤ %.1f× on the %s", c.Target, c.Label))
		}
	}
	if len(cpu) > 0 {
		targets = append(targets, "CPU per request against the reference's "+strings.Join(cpu, ", "))
	}
	if cl != nil && cl.Skipped == "" {
		targets = append(targets, fmt.Sprintf("checkout latency ≤ %.2f× its writes in a chain", targetCheckoutRatio))
	}
	misses := targetMisses(rows, cl, unassessed == "")
	fmt.Fprintf(w, "\ntargets: %s\n", strings.Join(targets, ";\n         "))
	if len(misses) == 0 {
		fmt.Fprintln(w, "  all met")
	}
	for _, m := range misses {
		fmt.Fprintf(w, "  missed: %s\n", m)
	}
}

// targetMisses lists each measured row's missed targets, then the
// comparisons' and the checkout latency's (cl may be nil); the p99 and RSS
// targets only when latency holds. A reference row, and the direct
// baseline, are held to no target but errors: they are not ours. A ratio
// that misses is shown with three decimals, so that one shown as 0.50 is
// not taken for the 0.5 it missed.
func targetMisses(rows []row, cl *checkoutLatency, latency bool) []string {
	var out []string
	for _, r := range rows {
		if r.Skipped != "" {
			continue
		}
		var m []string
		if n := r.Result.Errors; n > 0 {
			m = append(m, fmt.Sprintf("%d errors", n))
		}
		if r.Reference || r.Direct {
			if len(m) > 0 {
				out = append(out, r.Name+": "+strings.Join(m, ", "))
			}
			continue
		}
		if p := r.Result.Latency.quantile(0.99); latency && p >= targetP99 {
			m = append(m, fmt.Sprintf("p99 %s ms", ms(p)))
		}
		if rss := max(r.PeakRSS, r.HWM); latency && rss >= targetRSS {
			m = append(m, fmt.Sprintf("peak RSS %s MiB", mib(rss)))
		}
		if e := efficiency(r, rows); r.Aggregate && !(e >= targetEfficiency) {
			m = append(m, fmt.Sprintf("efficiency %s", ratio3(e)))
		}
		if len(m) > 0 {
			out = append(out, r.Name+": "+strings.Join(m, ", "))
		}
	}
	for _, c := range comparisons {
		if ours, ref, ok := c.rows(rows); ok {
			if q := cpuRatio(ours, ref); !(q <= c.Target) {
				out = append(out, fmt.Sprintf("%s: CPU per request %s× the reference's", c.Label, ratio3(q)))
			}
		}
	}
	if cl != nil && cl.Skipped == "" {
		if q := cl.ratio(); !(q <= targetCheckoutRatio) {
			out = append(out, fmt.Sprintf("checkout latency: %s× its writes in a chain", ratio3(q)))
		}
		for _, r := range cl.rows() {
			if n := r.Result.Errors; n > 0 {
				out = append(out, fmt.Sprintf("%s: %d errors", r.Name, n))
			}
		}
	}
	return out
}

// rows finds the comparison's two rows among rows, both measured.
func (c comparison) rows(rows []row) (ours, ref row, ok bool) {
	var foundOurs, foundRef bool
	for _, r := range rows {
		switch {
		case r.Skipped != "":
		case r.Key == c.Ours:
			ours, foundOurs = r, true
		case r.Key == c.Ref:
			ref, foundRef = r, true
		}
	}
	return ours, ref, foundOurs && foundRef
}

// cpuPerRequest is the CPU time the row's serving process (its Server)
// used per request: its cores over the run times the run's length, over
// the requests. The generator's and the sandbox's are not counted; the
// kernel's packet processing is, as far as the kernel charges it to the
// process (see cpuMeter.finish). False when unknown.
func cpuPerRequest(r row) (time.Duration, bool) {
	if r.Skipped != "" || r.Result.Requests == 0 {
		return 0, false
	}
	for _, c := range r.CPU {
		if c.Name == r.Server {
			return time.Duration(c.Cores * float64(r.Result.Elapsed) / float64(r.Result.Requests)), true
		}
	}
	return 0, false
}

// cpuRatio is ours's CPU per request over ref's; NaN when either is
// unknown or ref's is 0.
func cpuRatio(ours, ref row) float64 {
	o, okO := cpuPerRequest(ours)
	f, okF := cpuPerRequest(ref)
	if !okO || !okF || f == 0 {
		return math.NaN()
	}
	return float64(o) / float64(f)
}

// writeComparison prints, for each comparison whose two rows were
// measured, the CPU each serving process used per request, their ratio
// and its target, and each side's throughput.
func writeComparison(w io.Writer, rows []row) {
	table := [][]string{{"  page", "ours CPU µs/req", "reference CPU µs/req", "ours ÷ reference", "target", "ours req/s", "reference req/s"}}
	for _, c := range comparisons {
		ours, ref, ok := c.rows(rows)
		if !ok {
			continue
		}
		table = append(table, []string{
			"  " + c.Label, micros(cpuPerRequest(ours)), micros(cpuPerRequest(ref)), ratio(cpuRatio(ours, ref)),
			fmt.Sprintf("≤ %.2f", c.Target), fmt.Sprintf("%.0f", ours.Result.RPS()), fmt.Sprintf("%.0f", ref.Result.RPS()),
		})
	}
	if len(table) == 1 {
		return
	}
	fmt.Fprintf(w, "\nours against %s, a bare Fiber gateway serving the same pages from the same upstreams (CPU: the serving process's only):\n", referenceName)
	writeColumns(w, table)
}

// micros is a duration in whole microseconds, "-" when unknown.
func micros(d time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}

// writeCheckoutLatency prints each write's latency, their sum, the
// checkouts' and the ratio of the two.
func writeCheckoutLatency(w io.Writer, c checkoutLatency) {
	fmt.Fprintf(w, "\ncheckout latency: %s injected on each upstream write of the checkout; %d of each, one at a time on one connection:\n",
		writeLatency, c.Checkout.Requests)
	if c.Skipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", c.Skipped)
		return
	}
	table := [][]string{{"  request", "mean ms", "p50 ms", "p99 ms", "errors"}}
	line := func(name string, r loadResult) []string {
		return []string{"  " + name, ms(r.Latency.mean()), ms(r.Latency.quantile(0.5)), ms(r.Latency.quantile(0.99)), fmt.Sprintf("%d", r.Errors)}
	}
	rows := c.rows()
	for _, r := range rows[:len(rows)-1] {
		table = append(table, line(r.Name, r.Result))
	}
	table = append(table, []string{"  the checkout's writes in a chain", ms(c.chainMean()), "-", "-", "-"})
	table = append(table, line(checkoutName, c.Checkout))
	writeColumns(w, table)
	fmt.Fprintf(w, "  checkout ÷ writes in a chain: %s (target ≤ %.2f)\n", ratio(c.ratio()), targetCheckoutRatio)
	for _, r := range rows {
		if r.Result.Errors > 0 {
			n := fmt.Sprintf("%d", r.Result.Errors)
			if counts := r.Result.statusCounts(); counts != "" {
				n += " (" + counts + ")"
			}
			fmt.Fprintf(w, "  errors on %s: %s, first: %s\n", r.Name, n, r.Result.FirstError)
		}
	}
}

// rssTimeline picks n samples evenly over the run.
func rssTimeline(samples []rssSample, n int) string {
	if len(samples) == 0 {
		return ""
	}
	var parts []string
	for i := range n {
		s := samples[min(len(samples)-1, (i+1)*len(samples)/n)]
		parts = append(parts, mib(s.rss))
	}
	return strings.Join(parts, " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

func ratio(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.2f", f)
}

// ratio3 is ratio with three decimals, for a target's verdict.
func ratio3(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.3f", f)
}

// sections returns a writer of titled sections to w: each a line per row
// that has something to say, the rows' names aligned.
func sections[R any](w io.Writer, rows []R, name func(R) string) func(title string, line func(R) string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(name(r)))
	}
	return func(title string, line func(R) string) {
		var lines []string
		for _, r := range rows {
			if s := line(r); s != "" {
				lines = append(lines, fmt.Sprintf("  %-*s  %s", width, name(r), s))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Join(lines, "\n"))
		}
	}
}

// cpuLine is the cores each process used, "bench 0.56, sandbox 0.85".
func cpuLine(cpus []cpuShare) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = fmt.Sprintf("%s %.2f", c.Name, c.Cores)
	}
	return strings.Join(parts, ", ")
}
