package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times; Linux
// fixes it at 100 on every architecture Go supports.
const clockTicks = 100

// cpuTime reads the user plus system CPU time pid has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU takes utime and stime (fields 14 and 15) from the text of a
// stat file. The command name, field 2, may hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", clip(stat, 80))
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// machineCPU reads, from the first line of /proc/stat ("cpu user nice
// system idle iowait irq softirq steal ..."), the CPU time all processors
// have spent busy outside softirq, and in softirq. Softirq time is kept
// apart because much of it is the loopback traffic of the run itself,
// which the kernel charges to no process.
func machineCPU() (busy, softirq time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseMachineCPU(b)
}

func parseMachineCPU(stat []byte) (busy, softirq time.Duration, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", clip(line, 80))
	}
	const idle, iowait, soft = 3, 4, 6
	var busyTicks, softTicks int64
	for i, s := range f[1:min(len(f), 9)] { // user .. steal; guest is inside user
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		switch i {
		case idle, iowait:
		case soft:
			softTicks += n
		default:
			busyTicks += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(busyTicks) * tick, time.Duration(softTicks) * tick, nil
}

// cpuShare is the CPU a process used during a run, in cores (1.0 is one
// core busy the whole time).
type cpuShare struct {
	Name  string
	Cores float64
}

// cpuMeter remembers each process's CPU time, and the machine's, at the
// start of a run.
type cpuMeter struct {
	pids      map[string]int
	start     map[string]time.Duration
	busyStart time.Duration
	softStart time.Duration
	machineOK bool
}

func startCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}}
	for name, pid := range pids {
		if t, err := cpuTime(pid); err == nil {
			m.start[name] = t
		}
	}
	var err error
	m.busyStart, m.softStart, err = machineCPU()
	m.machineOK = err == nil
	return m
}

// finish returns each readable process's share over elapsed, by name, then
// "softirq" (the kernel's packet processing, mostly the run's own) and
// "others": what the rest of the machine used meanwhile, the noise a shared
// machine adds. A kernel that accounts CPU by ticks without IRQ time
// accounting (CONFIG_IRQ_TIME_ACCOUNTING unset, as on the machines this
// was measured on) charges a tick spent in softirq to the process it
// interrupted as well as to softirq: the processes' shares then include
// some of softirq's, and others, the machine's busy time outside softirq
// less theirs, falls short of what the rest of the machine used by that
// much (it is a floor, at 0 when the rest used less). Adding softirq back
// would count, as the rest's, the packet processing of the run's own
// traffic done outside its processes (ksoftirqd, an idle CPU).
func (m *cpuMeter) finish(elapsed time.Duration) []cpuShare {
	var out []cpuShare
	if elapsed <= 0 {
		return nil
	}
	var ours float64
	for _, name := range slices.Sorted(maps.Keys(m.start)) {
		t, err := cpuTime(m.pids[name])
		if err != nil {
			continue
		}
		c := (t - m.start[name]).Seconds() / elapsed.Seconds()
		ours += c
		out = append(out, cpuShare{Name: name, Cores: c})
	}
	if busy, soft, err := machineCPU(); err == nil && m.machineOK {
		all := (busy - m.busyStart).Seconds() / elapsed.Seconds()
		softirq := (soft - m.softStart).Seconds() / elapsed.Seconds()
		out = append(out,
			cpuShare{Name: "softirq", Cores: softirq},
			cpuShare{Name: "others", Cores: max(0, all-ours)})
	}
	return out
}
