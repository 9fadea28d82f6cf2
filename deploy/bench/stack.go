package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"storefront.dev/shared/freeport"
	"storefront.dev/shared/sandbox"
)

// sandboxAddrEnv are the sandbox's listen-address settings per service, and
// upstreamURLEnv the BFFs' instance-list settings.
var (
	sandboxAddrEnv = map[string]string{
		sandbox.ServiceProduct:      "SANDBOX_PRODUCT_ADDR",
		sandbox.ServiceOrder:        "SANDBOX_ORDER_ADDR",
		sandbox.ServicePayment:      "SANDBOX_PAYMENT_ADDR",
		sandbox.ServiceUser:         "SANDBOX_USER_ADDR",
		sandbox.ServiceNotification: "SANDBOX_NOTIFICATION_ADDR",
	}
	upstreamURLEnv = map[string]string{
		sandbox.ServiceProduct:      "UPSTREAM_PRODUCT_URLS",
		sandbox.ServiceOrder:        "UPSTREAM_ORDER_URLS",
		sandbox.ServicePayment:      "UPSTREAM_PAYMENT_URLS",
		sandbox.ServiceUser:         "UPSTREAM_USER_URLS",
		sandbox.ServiceNotification: "UPSTREAM_NOTIFICATION_URLS",
	}
)

// process is one started binary.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
	err    error // why it exited; read after exited is closed
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stack is the sandbox, the BFFs and the reference, each on a free
// loopback port.
type stack struct {
	// Sandbox maps each service to its address, "127.0.0.1:PORT".
	Sandbox map[string]string
	// SandboxProc is the process serving all five.
	SandboxProc *process
	// BFFs maps each started BFF (see bffs) to its process and address.
	BFFs map[string]*bffProcess
	// Reference is bench-reference, the bare Fiber gateway the BFFs are
	// compared with, in front of the same sandbox.
	Reference *bffProcess
	// LogDir holds each process's output.
	LogDir string
	// StateDir is a temporary directory holding one STATE_DIR per BFF
	// process, removed by stop: a benchmark neither writes ./data nor
	// recovers the checkouts of an earlier run, and no two processes share
	// a state file (the second could not lock it; bff-web and
	// bff-web-nocache would both open bff-web.db).
	StateDir string

	procs []*process
}

// bffProcess is a started BFF.
type bffProcess struct {
	*process
	Addr string
}

// bffs are the BFF processes the benchmark starts: both BFFs as deployed,
// and both again with the catalog cache off, so that their product reads
// reach the product service and the efficiency of the aggregation itself
// shows.
var bffs = []struct {
	name, binary, addrEnv string
	env                   []string
}{
	{"bff-web", "bff-web", "BFF_WEB_ADDR", nil},
	{"bff-mobile", "bff-mobile", "BFF_MOBILE_ADDR", nil},
	{"bff-web-nocache", "bff-web", "BFF_WEB_ADDR", cacheOff},
	{"bff-mobile-nocache", "bff-mobile", "BFF_MOBILE_ADDR", cacheOff},
}

var cacheOff = []string{"CACHE_PRODUCT_TTL=0s", "CACHE_STOCK_TTL=0s", "CACHE_LIST_TTL=0s"}

// referenceName is bench-reference's binary, and its name in the report
// and the CPU lines.
const referenceName = "bench-reference"

// server returns the started BFF or reference called name, or nil.
func (st *stack) server(name string) *bffProcess {
	if name == referenceName {
		return st.Reference
	}
	return st.BFFs[name]
}

// bffEnv is added to every BFF's environment: warn-level logs, so that
// logging does not weigh on what is measured, and rate limits so high they
// never refuse, so that the limiter's cost is measured but one benchmark
// user is not throttled as a real one would be; and an admin listener on
// a free port, since two instances of each BFF run side by side.
var bffEnv = []string{
	"LOG_LEVEL=warn", "SHUTDOWN_TIMEOUT=5s", "BFF_COOKIE_SECURE=false", "ADMIN_ADDR=127.0.0.1:0",
	"RATE_LIMIT_DEFAULT_REQUESTS=1000000000", "RATE_LIMIT_DEFAULT_WINDOW=1s",
	"RATE_LIMIT_LOGIN_REQUESTS=1000000000", "RATE_LIMIT_LOGIN_WINDOW=1s",
	"RATE_LIMIT_ORDER_REQUESTS=1000000000", "RATE_LIMIT_ORDER_WINDOW=1s",
}

// closedLoopEnv is added to every BFF's environment in a closed loop:
// a concurrency limit so high it never sheds, so that the closed loop
// measures what a BFF serves at BENCH_CONNS connections (admission control
// still runs). An open loop (BENCH_RATE) leaves the limit as deployed: what
// it sheds beyond capacity is what it measures.
var closedLoopEnv = []string{
	"ADMISSION_INITIAL_LIMIT=1000000", "ADMISSION_MIN_LIMIT=1000000", "ADMISSION_MAX_LIMIT=1000000",
}

// startStack starts bin/sandbox, the BFFs and bin/bench-reference with
// environ plus the addresses it chose, and waits until each is ready.
func startStack(ctx context.Context, bin, logDir string, environ []string) (st *stack, err error) {
	addrs, err := freeport.Addrs(len(sandbox.Services) + len(bffs) + 1)
	if err != nil {
		return nil, err
	}
	// s, not st: a "return nil, err" has set st to nil before this runs.
	s := &stack{Sandbox: map[string]string{}, BFFs: map[string]*bffProcess{}, LogDir: logDir}
	st = s
	defer func() {
		if err != nil {
			s.stop()
			st = nil
		}
	}()
	if st.StateDir, err = os.MkdirTemp("", "storefront-bench-state-"); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}

	sandboxEnv := slices.Clone(environ)
	var upstreams []string
	for i, name := range sandbox.Services {
		st.Sandbox[name] = addrs[i]
		sandboxEnv = append(sandboxEnv, sandboxAddrEnv[name]+"="+addrs[i])
		upstreams = append(upstreams, upstreamURLEnv[name]+"=http://"+addrs[i])
	}
	common := slices.Concat(environ, bffEnv, upstreams)
	if st.SandboxProc, err = st.start("sandbox", filepath.Join(bin, "sandbox"), sandboxEnv); err != nil {
		return nil, err
	}
	for _, name := range sandbox.Services {
		if err := waitReady(ctx, st.SandboxProc, "http://"+st.Sandbox[name]+"/__admin/faults"); err != nil {
			return nil, err
		}
	}

	for i, b := range bffs {
		addr := addrs[len(sandbox.Services)+i]
		env := slices.Concat(common, b.env, []string{
			b.addrEnv + "=" + addr,
			// Last, so that it wins over a STATE_DIR in environ.
			"STATE_DIR=" + filepath.Join(st.StateDir, b.name),
		})
		p, err := st.start(b.name, filepath.Join(bin, b.binary), env)
		if err != nil {
			return nil, err
		}
		st.BFFs[b.name] = &bffProcess{process: p, Addr: addr}
	}
	refAddr := addrs[len(addrs)-1]
	p, err := st.start(referenceName, filepath.Join(bin, referenceName),
		slices.Concat(environ, upstreams, []string{"REFERENCE_ADDR=" + refAddr}))
	if err != nil {
		return nil, err
	}
	st.Reference = &bffProcess{process: p, Addr: refAddr}
	for _, b := range bffs {
		p := st.BFFs[b.name]
		if err := waitReady(ctx, p.process, "http://"+p.Addr+"/readyz"); err != nil {
			return nil, err
		}
	}
	// The reference has no readiness route: a product it can read is
	// readiness enough.
	if err := waitReady(ctx, st.Reference.process, "http://"+refAddr+"/products/1"); err != nil {
		return nil, err
	}
	return st, nil
}

// start runs path with its output in LogDir/NAME.log.
func (st *stack) start(name, path string, env []string) (*process, error) {
	log, err := os.Create(filepath.Join(st.LogDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s (run make build first): %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	st.procs = append(st.procs, p)
	return p, nil
}

// check reports a process that is no longer running, which would make
// every later figure meaningless.
func (st *stack) check() error {
	for _, p := range st.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v); see %s", p.name, p.err, p.log.Name())
		default:
		}
	}
	return nil
}

// stop sends SIGTERM to every process, BFFs first, kills any still
// running after the BFFs' drain time, and then removes StateDir.
func (st *stack) stop() {
	for i := len(st.procs) - 1; i >= 0; i-- {
		p := st.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.log.Close()
	}
	st.procs = nil
	if st.StateDir != "" {
		_ = os.RemoveAll(st.StateDir)
		st.StateDir = ""
	}
}

// waitReady polls url until it answers 200, p exits, ctx ends or 30 s pass.
func waitReady(ctx context.Context, p *process, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s answered (%v); see %s", p.name, url, p.err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last: %s)", url, context.Cause(ctx), strings.TrimSpace(last))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
