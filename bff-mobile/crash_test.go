package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// TestSIGKILLMidRush runs the real bff-mobile binary with its state file,
// kills it with SIGKILL while a rush of orders is in flight, restarts it on
// the same address and STATE_DIR, and retries every Idempotency-Key until it
// has a final answer. Most orders are paid by a card that succeeds, for
// products in ample stock; one in ten is paid by a declined card, and one
// in ten buys a product with fewer units than buyers. Each key must end
// with exactly one outcome, the one its kind allows (201; 402; 201 or 409
// out of stock), replayed as such; an outcome answered before the kill
// must survive it; and once the system is quiet the sandbox must hold one
// confirmed order per 201 and nothing else: no money without an order, no
// stock or hold left behind, no pending order, no unit of the scarce
// product sold beyond its stock.
func TestSIGKILLMidRush(t *testing.T) {
	const (
		n           = 60               // orders in the rush, one key each
		concurrency = 12               // requests in flight at once
		killAt      = n * 4 / 10       // the kill comes once this many were sent
		settleFor   = 20 * time.Second // every key must be settled by then
		scarce      = int64(6)         // the product with fewer units than buyers
		scarceStock = 3
	)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build bff-mobile with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bff-mobile")
	built := time.Now()
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bff-mobile: %v\n%s", err, out)
	}
	t.Logf("built bff-mobile in %v", time.Since(built).Round(time.Millisecond))

	rt := sandboxtest.Start(t, sandbox.Config{})
	ctx := context.Background()
	// Slow steps keep the rush in flight, at every step, when the kill comes.
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: "POST /payments/{id}/capture", LatencyMS: 30}); err != nil {
		t.Fatal(err)
	}
	if err := rt.InjectFault(ctx, sandbox.ServiceOrder, sandbox.Fault{Route: "POST /orders", LatencyMS: 20}); err != nil {
		t.Fatal(err)
	}

	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	env := stackEnv(rt,
		"BFF_MOBILE_ADDR", addr,
		"STATE_DIR", filepath.Join(dir, "state"),
		"ORDER_RECOVERY_INTERVAL", "200ms",
		"ORDER_LEASE_TTL", "2s",
		// The sandbox applies a write at once or never: what is missing
		// after a second will not land.
		"ORDER_LATE_WRITES", "1s",
		"LOG_LEVEL", "warn",
	)
	logPath := filepath.Join(dir, "bff-mobile.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of the bff-mobile log (%s):\n%s", logPath, crashLogTail(logPath, 60))
		}
	})
	var live *crashChild // the running child, killed at cleanup
	t.Cleanup(func() {
		if live != nil {
			live.kill()
		}
	})
	start := func(label string) *crashChild {
		t.Helper()
		fmt.Fprintf(logf, "--- %s at %s\n", label, time.Now().Format(time.RFC3339Nano))
		p, err := startCrashChild(bin, env, logf)
		if err != nil {
			t.Fatal(err)
		}
		live = p
		p.waitReady(t, base)
		return p
	}

	client := &http.Client{Timeout: 5 * time.Second}
	proc := start("start")
	checkHealthcheck(t, bin, env, "a ready BFF", true)
	auth := "Bearer " + crashLogin(t, client, base)

	if err := rt.Sandbox.SetStock(scarce, scarceStock); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, n)
	bodies := make([][]byte, n)
	// allowed says which final answers key i may get, by its kind.
	allowed := make([]func(crashAnswer) bool, n)
	for i := range n {
		keys[i] = servertest.NewKey()
		body := orderBody("tok_visa", line(int64(1+i%5), 1))
		allowed[i] = func(a crashAnswer) bool { return a.status == http.StatusCreated }
		switch i % 10 {
		case 3:
			body = orderBody("tok_declined", line(int64(1+i%5), 1))
			allowed[i] = func(a crashAnswer) bool {
				return a.status == http.StatusPaymentRequired && a.code == "payment_declined"
			}
		case 7:
			body = orderBody("tok_visa", line(scarce, 1))
			allowed[i] = func(a crashAnswer) bool {
				return a.status == http.StatusCreated || a.status == http.StatusConflict && a.code == "out_of_stock"
			}
		}
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = b
	}
	post := func(i int) (crashAnswer, error) {
		return crashPostOrder(client, base, auth, keys[i], bodies[i])
	}

	// The rush: killAt requests are sent, then the BFF dies mid-flight and
	// nothing more is sent until it is back.
	type first struct {
		sent bool
		ans  crashAnswer
		err  error
	}
	firsts := make([]first, n)
	// Requests go out 5ms apart, so that those in flight at the kill are
	// spread over every step of the saga rather than moving in lockstep.
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ans, err := post(i)
			firsts[i] = first{sent: true, ans: ans, err: err}
		}()
		time.Sleep(5 * time.Millisecond)
		if i+1 == killAt {
			proc.kill()
			break
		}
	}
	wg.Wait()
	client.CloseIdleConnections()
	checkHealthcheck(t, bin, env, "a killed BFF", false)
	atKill, err := rt.FetchState(ctx)
	if err != nil {
		t.Fatal(err)
	}

	sentBefore, cutOff := 0, 0
	before := map[int]int{}
	for _, f := range firsts {
		if !f.sent {
			continue
		}
		sentBefore++
		if f.err != nil {
			cutOff++
			continue
		}
		before[f.ans.status]++
	}

	// The restart, and every key retried until it has a final answer.
	restarted := time.Now()
	start("restart after SIGKILL")
	deadline := restarted.Add(settleFor)
	finals := make([]crashAnswer, n)
	settled := make([]bool, n)
	var retries, busy, unavailable, transport atomic.Int64
	var rwg sync.WaitGroup
	for i := range n {
		rwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer rwg.Done()
			defer func() { <-sem }()
			for time.Now().Before(deadline) {
				retries.Add(1)
				ans, err := post(i)
				if err != nil {
					transport.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				switch {
				case ans.status == http.StatusCreated:
				case ans.status == http.StatusConflict && ans.code == "idempotency_key_in_use":
					busy.Add(1)
					time.Sleep(ans.wait(time.Second))
					continue
				case ans.status >= 500:
					// 503 upstream_unavailable after an interrupted saga
					// that was undone: the next retry places the order.
					unavailable.Add(1)
					time.Sleep(ans.wait(time.Second))
					continue
				}
				finals[i], settled[i] = ans, true
				return
			}
		}()
	}
	rwg.Wait()
	recovery := time.Since(restarted)

	violations := 0
	violate := func(format string, args ...any) {
		t.Helper()
		violations++
		t.Errorf(format, args...)
	}
	created, scarceCreated := 0, 0
	ends := map[string]int{}         // final answers, by status and code
	byOrderID := map[string]string{} // order id -> key
	for i, key := range keys {
		if !settled[i] {
			violate("key %s: no final answer within %v of the restart", key, settleFor)
			continue
		}
		fin := finals[i]
		ends[strings.TrimSpace(strconv.Itoa(fin.status)+" "+fin.code)]++
		if fin.status == http.StatusCreated {
			created++
			if i%10 == 7 {
				scarceCreated++
			}
			if fin.orderID == "" {
				violate("key %s: 201 without an order id: %s", key, fin.body)
			} else if other, dup := byOrderID[fin.orderID]; dup {
				violate("keys %s and %s were both answered with order %s", other, key, fin.orderID)
			} else {
				byOrderID[fin.orderID] = key
			}
		}
		if !allowed[i](fin) {
			violate("key %s: final answer %d %s, not one its order allows: %s", key, fin.status, fin.code, fin.body)
		}
		if f := firsts[i]; f.sent && f.err == nil && final(f.ans) && (f.ans.status != fin.status || f.ans.code != fin.code || f.ans.orderID != fin.orderID) {
			violate("key %s: answered %d %s (order %q) before the kill, %d %s (order %q) after it",
				key, f.ans.status, f.ans.code, f.ans.orderID, fin.status, fin.code, fin.orderID)
		}
		// The outcome is final: a further retry replays it.
		again, err := post(i)
		switch {
		case err != nil:
			violate("key %s: replay: %v", key, err)
		case again.status != fin.status || again.code != fin.code:
			violate("key %s: replay answered %d %s, want the final %d %s", key, again.status, again.code, fin.status, fin.code)
		case fin.status == http.StatusCreated && (again.orderID != fin.orderID || again.replayed != "true"):
			violate("key %s: replay answered order %s with Idempotent-Replayed %q, want order %s and true", key, again.orderID, again.replayed, fin.orderID)
		}
	}

	// Quiet: the sandbox idle and nothing held or pending.
	if !rt.Sandbox.WaitIdle() {
		t.Error("the sandbox still had requests in flight after 10s")
	}
	var st sandbox.State
	quiet := time.Now().Add(10 * time.Second)
	for {
		st, err = rt.FetchState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if crashQuiet(st) || time.Now().After(quiet) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, err := range st.Invariants() {
		violate("invariant: %v", err)
	}
	confirmed := 0
	perSaga := map[string][]string{} // saga id (attempt stripped) -> confirmed order ids
	for _, o := range st.Order.Orders {
		switch o.Status {
		case order.StatusPending:
			violate("order %s (reference %q) is still pending", o.ID, o.Reference)
		case order.StatusConfirmed:
			confirmed++
			saga := sagaOfReference(o.Reference)
			perSaga[saga] = append(perSaga[saga], o.ID)
			if _, ok := byOrderID[o.ID]; !ok {
				violate("confirmed order %s (reference %q) was answered to no key", o.ID, o.Reference)
			}
			if o.UserID != sandbox.Ada.ID {
				violate("confirmed order %s belongs to %q, want %q", o.ID, o.UserID, sandbox.Ada.ID)
			}
		}
	}
	for _, lvl := range st.Product.Products {
		if lvl.ID == scarce && (lvl.Sold != scarceCreated || lvl.Sold > scarceStock) {
			violate("product %d: %d units sold for %d keys answered 201, from a stock of %d", scarce, lvl.Sold, scarceCreated, scarceStock)
		}
	}
	if confirmed != created {
		violate("%d confirmed orders, want one per key answered 201 (%d)", confirmed, created)
	}
	for saga, ids := range perSaga {
		if len(ids) > 1 {
			violate("key of saga %s has %d confirmed orders: %v", saga, len(ids), ids)
		}
	}

	t.Logf("keys: %d; sent before the kill: %d (answers %v, cut off: %d); 201s before the kill: %d",
		n, sentBefore, before, cutOff, before[http.StatusCreated])
	t.Logf("after the restart: %d requests (%d answered 409 in use, %d answered 5xx, %d transport errors); final answers %v; recovery time %v",
		retries.Load(), busy.Load(), unavailable.Load(), transport.Load(), ends, recovery.Round(time.Millisecond))
	t.Logf("sandbox just after the kill: %s", crashHeld(atKill))
	t.Logf("sandbox at the end: %s; violations: %d", crashHeld(st), violations)
}

// final reports whether a is an outcome of its key: any answer but a 5xx
// or a 409 saying the key is in use, after which the client retries.
func final(a crashAnswer) bool {
	return a.status < 500 && !(a.status == http.StatusConflict && a.code == "idempotency_key_in_use")
}

// crashAnswer is one answer of POST /v1/orders, as the test reads it.
type crashAnswer struct {
	status     int
	code       string // the problem's code, for errors
	orderID    string // for 201
	replayed   string // Idempotent-Replayed
	retryAfter string
	body       []byte
}

// wait is the Retry-After to wait, capped at limit; 200ms without one.
func (a crashAnswer) wait(limit time.Duration) time.Duration {
	s, err := strconv.Atoi(a.retryAfter)
	if err != nil || s < 0 {
		return 200 * time.Millisecond
	}
	return min(time.Duration(s)*time.Second, limit)
}

func crashPostOrder(client *http.Client, base, auth, key string, body []byte) (crashAnswer, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/orders", bytes.NewReader(body))
	if err != nil {
		return crashAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return crashAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return crashAnswer{}, fmt.Errorf("read body: %w", err)
	}
	a := crashAnswer{status: resp.StatusCode, body: raw,
		replayed: resp.Header.Get("Idempotent-Replayed"), retryAfter: resp.Header.Get("Retry-After")}
	var doc struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return a, fmt.Errorf("status %d: decode %s: %w", resp.StatusCode, raw, err)
	}
	if resp.StatusCode == http.StatusCreated {
		a.orderID = doc.ID
	} else {
		a.code = doc.Code
	}
	return a, nil
}

func crashLogin(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	resp, err := client.Post(base+"/v1/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tok tokenView
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("login: status %d, body %s", resp.StatusCode, raw)
	}
	return tok.AccessToken
}

// crashQuiet reports whether nothing is held or pending in the sandbox.
func crashQuiet(st sandbox.State) bool {
	for _, r := range st.Product.Reservations {
		if r.Status == product.ReservationActive {
			return false
		}
	}
	for _, p := range st.Payment.Payments {
		if p.Status == payment.StatusAuthorized {
			return false
		}
	}
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusPending {
			return false
		}
	}
	return true
}

// crashHeld summarizes what the sandbox holds: orders, reservations and
// payments by status.
func crashHeld(st sandbox.State) string {
	orders, resv, pays := map[string]int{}, map[string]int{}, map[string]int{}
	for _, o := range st.Order.Orders {
		orders[o.Status]++
	}
	for _, r := range st.Product.Reservations {
		resv[r.Status]++
	}
	for _, p := range st.Payment.Payments {
		pays[p.Status]++
	}
	return fmt.Sprintf("orders %v, reservations %v, payments %v", orders, resv, pays)
}

// sagaOfReference is the saga id an upstream reference derives from:
// "chk_<hex>" from "chk_<hex>-ord" or, for a later attempt, "chk_<hex>.2-ord".
func sagaOfReference(ref string) string {
	if i := strings.IndexAny(ref, ".-"); i >= 0 {
		return ref[:i]
	}
	return ref
}

// checkHealthcheck runs "bin healthcheck" with env, as a container's
// HEALTHCHECK does, and checks it exits 0 exactly when healthy.
func checkHealthcheck(t *testing.T, bin string, env map[string]string, what string, healthy bool) {
	t.Helper()
	cmd := exec.Command(bin, "healthcheck")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if healthy && err != nil || !healthy && err == nil {
		t.Errorf("healthcheck of %s: %v (%s), want healthy %v", what, err, out, healthy)
	}
}

// crashChild is a bff-mobile binary running as a child process.
type crashChild struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the Wait result, once exited is closed
}

func startCrashChild(bin string, env map[string]string, log *os.File) (*crashChild, error) {
	cmd := exec.Command(bin)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bff-mobile: %w", err)
	}
	p := &crashChild{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *crashChild) kill() {
	_ = p.cmd.Process.Kill() // os.ErrProcessDone when it exited already
	<-p.exited
}

// waitReady polls base/readyz until it answers 200, failing when the process
// exits or 10s pass.
func (p *crashChild) waitReady(t *testing.T, base string) {
	t.Helper()
	servertest.WaitReadyWhile(t, base, func() error {
		select {
		case <-p.exited:
			if p.err == nil {
				return errors.New("exit status 0")
			}
			return p.err
		default:
			return nil
		}
	})
}

// crashLogTail returns the last lines of the file at path.
func crashLogTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// TestASecondSignalEndsTheDrain: the first SIGTERM starts a drain (here one
// that would wait an hour for load balancers), and a second one ends the
// process at once, as an operator pressing Ctrl-C twice expects.
func TestASecondSignalEndsTheDrain(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build bff-mobile with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bff-mobile")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build bff-mobile: %v\n%s", err, out)
	}
	rt := sandboxtest.Start(t, sandbox.Config{})
	addr := servertest.FreeAddr(t)
	env := stackEnv(rt, "BFF_MOBILE_ADDR", addr, "STATE_DIR", filepath.Join(dir, "state"),
		"SHUTDOWN_DELAY", "1h", "LOG_LEVEL", "warn")
	logf, err := os.Create(filepath.Join(dir, "bff-mobile.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	p, err := startCrashChild(bin, env, logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	p.waitReady(t, "http://"+addr)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		t.Fatalf("the first SIGTERM ended the process (%v); want the drain's delay first", p.err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after a second SIGTERM")
	}
}
