package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// memStatus reads a memory field of /proc/PID/status ("VmRSS", "VmHWM") in
// bytes. Only Linux has it; elsewhere the RSS columns read n/a.
func memStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusField(b, field)
}

// parseStatusField finds "field:   1234 kB" in the text of a status file.
func parseStatusField(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	prefix := []byte(field + ":")
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("status field %s: unexpected %q", field, line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status field %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("status field %s: not found", field)
}

// rssSample is the resident set size of the process under test at one
// moment of a run.
type rssSample struct {
	at  time.Duration // since the sampler started
	rss int64
}

// rssSampler polls VmRSS while a run lasts. VmHWM alone cannot tell one
// endpoint's peak from an earlier one's (the kernel never lowers it), hence
// the sampling.
type rssSampler struct {
	pid  int
	stop context.CancelFunc
	done chan struct{}

	mu      sync.Mutex
	samples []rssSample
	peak    int64
	// anonPeak is the highest RssAnon sampled: the process's own memory,
	// without the files it maps (the BFF's state file).
	anonPeak int64
}

// sampleRSS starts polling pid every interval; pid 0 samples nothing.
func sampleRSS(pid int, interval time.Duration) *rssSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rssSampler{pid: pid, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if pid == 0 {
			return
		}
		start := time.Now()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if rss, err := memStatus(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, rssSample{at: time.Since(start), rss: rss})
				s.peak = max(s.peak, rss)
				s.mu.Unlock()
			}
			if anon, err := memStatus(pid, "RssAnon"); err == nil {
				s.mu.Lock()
				s.anonPeak = max(s.anonPeak, anon)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops the sampler and returns the highest VmRSS seen, VmHWM now
// (the process's lifetime peak) and the samples; the sizes are -1 when they
// could not be read.
func (s *rssSampler) finish() (peak, hwm int64, samples []rssSample) {
	s.stop()
	<-s.done
	peak, hwm = -1, -1
	if s.pid == 0 {
		return peak, hwm, nil
	}
	if v, err := memStatus(s.pid, "VmHWM"); err == nil {
		hwm = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) > 0 {
		peak = s.peak
	}
	return peak, hwm, s.samples
}

// peakAnon is the highest RssAnon sampled, -1 when none was; call it after
// finish.
func (s *rssSampler) peakAnon() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.anonPeak == 0 {
		return -1
	}
	return s.anonPeak
}
