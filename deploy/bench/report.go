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

// writeReport prints the machine, the table and what explains it.
func writeReport(w io.Writer, cfg config, rows []row) {
	fmt.Fprintf(w, "\nstorefront load benchmark: %d connections, %s per endpoint, closed loop over 127.0.0.1\n",
		cfg.Conns, cfg.Duration)
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s; the generator, the sandbox and both BFFs share them\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	writeTable(w, rows)
	writeDetails(w, rows, cfg.Soak > 0)
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
	misses := targetMisses(rows)
	fmt.Fprintf(w, "\ntargets: p99 < %s, 0 errors, BFF peak RSS < %s MiB, efficiency ≥ %.1f on aggregating endpoints\n",
		targetP99, mib(targetRSS), targetEfficiency)
	if len(misses) == 0 {
		fmt.Fprintln(w, "  all met")
	}
	for _, m := range misses {
		fmt.Fprintf(w, "  missed: %s\n", m)
	}
}

// targetMisses lists each measured row's missed targets.
func targetMisses(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.Skipped != "" {
			continue
		}
		var m []string
		if n := r.Result.Errors; n > 0 {
			m = append(m, fmt.Sprintf("%d errors", n))
		}
		if p := r.Result.Latency.quantile(0.99); p >= targetP99 {
			m = append(m, fmt.Sprintf("p99 %s ms", ms(p)))
		}
		if rss := max(r.PeakRSS, r.HWM); rss >= targetRSS {
			m = append(m, fmt.Sprintf("peak RSS %s MiB", mib(rss)))
		}
		if e := efficiency(r, rows); r.Aggregate && !(e >= targetEfficiency) {
			m = append(m, fmt.Sprintf("efficiency %s", ratio(e)))
		}
		if len(m) > 0 {
			out = append(out, r.Name+": "+strings.Join(m, ", "))
		}
	}
	return out
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
