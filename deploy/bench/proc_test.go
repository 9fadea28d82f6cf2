package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

const sampleStatus = `Name:	bff-web
Umask:	0022
State:	S (sleeping)
VmPeak:	 1262060 kB
VmHWM:	   31580 kB
VmRSS:	   27004 kB
Threads:	9
`

func TestParseStatusField(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		field   string
		want    int64
		wantErr bool
	}{
		{"rss", sampleStatus, "VmRSS", 27004 << 10, false},
		{"high water mark", sampleStatus, "VmHWM", 31580 << 10, false},
		{"missing field", sampleStatus, "VmSwap", 0, true},
		{"prefix of another field is not it", sampleStatus, "Vm", 0, true},
		{"not in kB", "VmRSS:\t12 MB\n", "VmRSS", 0, true},
		{"not a number", "VmRSS:\tx kB\n", "VmRSS", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusField([]byte(tt.status), tt.field)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatusField(%s) = %d, %v; want %d, error %v", tt.field, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "4242 (bff-web) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 9 0", 3 * time.Second, false},
		{"name with spaces and parentheses", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 100 1 0 0 20 0 1 0", 1010 * time.Millisecond, false},
		{"no name", "4242 bff-web S 1", 0, true},
		{"truncated", "4242 (bff-web) S 1 2 3", 0, true},
		{"not a number", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 1 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSamplerReadsALiveProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/status is Linux only")
	}
	s := sampleRSS(os.Getpid(), time.Millisecond)
	peak, hwm, samples := s.finish()
	if len(samples) == 0 || peak <= 0 || hwm < peak {
		t.Errorf("finish() = peak %d, hwm %d, %d samples; want a positive peak at most hwm and a sample", peak, hwm, len(samples))
	}
}

func TestSamplerWithoutProcess(t *testing.T) {
	peak, hwm, samples := sampleRSS(0, time.Millisecond).finish()
	if peak != -1 || hwm != -1 || samples != nil {
		t.Errorf("finish() = %d, %d, %v; want -1, -1, nil", peak, hwm, samples)
	}
}

func TestParseMachineCPU(t *testing.T) {
	tests := []struct {
		name          string
		stat          string
		busy, softirq time.Duration
		wantErr       bool
	}{
		{"idle and iowait are not busy, softirq apart", "cpu  100 10 50 9000 40 5 7 3 0 0\ncpu0 1 2 3 4 5 6 7 8\n",
			1680 * time.Millisecond, 70 * time.Millisecond, false},
		{"old kernels have fewer fields", "cpu 100 0 100 500 0\n", 2 * time.Second, 0, false},
		{"not the cpu line", "intr 1 2 3 4 5 6\n", 0, 0, true},
		{"not a number", "cpu 1 x 3 4 5 6 7\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			busy, soft, err := parseMachineCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || busy != tt.busy || soft != tt.softirq {
				t.Errorf("parseMachineCPU = %v, %v, %v; want %v, %v, error %v", busy, soft, err, tt.busy, tt.softirq, tt.wantErr)
			}
		})
	}
}
