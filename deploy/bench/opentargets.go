package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// The open loop's targets: what a BFF beyond its capacity should still do.
const (
	// targetGoodput is the least goodput, as a share of the capacity the
	// rate is a multiple of.
	targetGoodput = 0.9
	// targetOpenP99 bounds the successes' p99, targetOpenMax every
	// answer, success or shed.
	targetOpenP99 = time.Second
	targetOpenMax = 2 * time.Second
	// targetShedP99 bounds the p99 of a shed answer: shedding is cheap.
	targetShedP99 = 50 * time.Millisecond
	// targetOpenRSS bounds the BFF's RSS during the run, targetSettle how
	// far above its RSS before the run it may be rssSettle after.
	targetOpenRSS = 150 << 20
	targetSettle  = 30 << 20
	// targetPlaced is the least share of the checkouts placed one after
	// another beside a browse run that succeed, with a p99 under
	// targetOpenP99.
	targetPlaced = 0.95
)

// writeOpenTargets prints the open loop's targets, then each miss. They
// hold with a fault injected too: a fault bounds the capacity, and the
// targets are about what is kept of it.
func writeOpenTargets(w io.Writer, rows []openRow) {
	targets := []string{
		fmt.Sprintf("0 errors, goodput ≥ %.0f%% of capacity", 100*targetGoodput),
		fmt.Sprintf("ok p99 ≤ %s, every answer ≤ %s, shed p99 ≤ %s", targetOpenP99, targetOpenMax, targetShedP99),
		fmt.Sprintf("BFF RSS ≤ %s MiB, and within %s MiB of its start %s after", mib(targetOpenRSS), mib(targetSettle), rssSettle),
		fmt.Sprintf("checkouts beside a browse run ≥ %.0f%% placed, p99 ≤ %s", 100*targetPlaced, targetOpenP99),
	}
	fmt.Fprintf(w, "\ntargets: %s\n", strings.Join(targets, ";\n         "))
	misses := openMisses(rows)
	if len(misses) == 0 {
		fmt.Fprintln(w, "  all met")
	}
	for _, m := range misses {
		fmt.Fprintf(w, "  missed: %s\n", m)
	}
}

// openMisses lists each measured row's missed targets: goodput only for a
// row driven at a multiple of its capacity, memory only for a BFF's row.
func openMisses(rows []openRow) []string {
	var out []string
	for _, r := range rows {
		if r.Skipped != "" {
			continue
		}
		res := r.Result
		var m []string
		if res.Errors > 0 {
			m = append(m, fmt.Sprintf("%d errors", res.Errors))
		}
		if share := res.Goodput() / r.Capacity; r.Capacity > 0 && share < targetGoodput {
			m = append(m, fmt.Sprintf("goodput %.1f%% of capacity", 100*share))
		}
		m = append(m, r.latencyMisses()...)
		m = append(m, r.memoryMisses()...)
		m = append(m, r.checkoutMisses()...)
		if len(m) > 0 {
			out = append(out, r.Name+": "+strings.Join(m, ", "))
		}
	}
	return out
}

func (r openRow) latencyMisses() []string {
	var m []string
	res := r.Result
	if p := res.Latency.quantile(0.99); p > targetOpenP99 {
		m = append(m, fmt.Sprintf("ok p99 %s ms", ms(p)))
	}
	if worst := max(res.Latency.max, res.ShedLatency.max); worst > targetOpenMax {
		m = append(m, fmt.Sprintf("an answer after %s ms", ms(worst)))
	}
	if p := res.ShedLatency.quantile(0.99); p > targetShedP99 {
		m = append(m, fmt.Sprintf("shed p99 %s ms", ms(p)))
	}
	return m
}

// memoryMisses reads RSS figures of -1 (not a BFF, or unreadable) as
// nothing to assess. Each miss gives the process's own memory (anon)
// beside it: the rest of the RSS is the files it maps, the state file
// growing with every checkout journaled among them.
func (r openRow) memoryMisses() []string {
	var m []string
	if r.RSS.Peak > targetOpenRSS {
		m = append(m, fmt.Sprintf("peak RSS %s MiB (anon %s)", mib(r.RSS.Peak), mib(r.Anon.Peak)))
	}
	if r.RSS.Before >= 0 && r.RSS.After >= 0 && r.RSS.After-r.RSS.Before > targetSettle {
		m = append(m, fmt.Sprintf("RSS %s MiB %s after, from %s MiB (anon %s from %s)", mib(r.RSS.After), rssSettle,
			mib(r.RSS.Before), mib(r.Anon.After), mib(r.Anon.Before)))
	}
	return m
}

func (r openRow) checkoutMisses() []string {
	c := r.Checkout
	if c == nil || c.Requests == 0 {
		return nil
	}
	var m []string
	if placed := float64(c.Requests-c.Errors) / float64(c.Requests); placed < targetPlaced {
		m = append(m, fmt.Sprintf("checkouts %.1f%% placed", 100*placed))
	}
	if p := c.Latency.quantile(0.99); p > targetOpenP99 {
		m = append(m, fmt.Sprintf("checkout p99 %s ms", ms(p)))
	}
	return m
}
