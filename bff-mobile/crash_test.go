package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redistest"
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
	r := newCrashRig(t, "STATE_DIR", filepath.Join(t.TempDir(), "state"))
	// Slow steps keep the rush in flight, at every step, when the kill comes.
	r.rt.Inject(t, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, LatencyMS: 30})
	r.rt.Inject(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, LatencyMS: 20})
	r.cycle(rushPlan{n: 60, concurrency: 12, killAt: 24, gap: 5 * time.Millisecond,
		scarce: 6, scarceStock: 3, settleFor: 20 * time.Second})
}

// TestChaos is TestSIGKILLMidRush over many cycles of random shape. Each
// cycle injects random faults on the checkout's writes and undos (latency;
// 503s and dropped connections, before or after the write is applied),
// kills the BFF at a random point of its rush, clears the faults a few
// seconds after the restart, and checks every invariant again, over all
// the cycles so far. It runs only when CHAOS_CYCLES is set (make chaos):
// CHAOS_JOURNAL picks the journal, "bolt" (the default) or "redis", and
// CHAOS_SEED repeats a run's faults and kill points.
func TestChaos(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv("CHAOS_CYCLES"))
	if cycles <= 0 {
		t.Skip("CHAOS_CYCLES is not set (make chaos runs this test)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED %q: %v", s, err)
		}
	}
	t.Logf("CHAOS_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	env := []string{"STATE_DIR", filepath.Join(t.TempDir(), "state"), "ORDER_TIMEOUT", "3s"}
	switch j := os.Getenv("CHAOS_JOURNAL"); j {
	case "", "bolt":
	case "redis":
		env = append(env, "REDIS_URL", redistest.URL(t), "REDIS_KEY_PREFIX", redistest.Prefix(t))
	default:
		t.Fatalf("CHAOS_JOURNAL %q: want bolt or redis", j)
	}
	r := newCrashRig(t, env...)
	for c := range cycles {
		if t.Failed() {
			break
		}
		t.Logf("cycle %d: faults %s", c+1, injectChaos(t, r.rt, rng))
		const n = 40
		r.cycle(rushPlan{n: n, concurrency: 8, killAt: n/5 + rng.IntN(n*3/5),
			gap: time.Duration(rng.IntN(8)) * time.Millisecond, scarce: 6, scarceStock: 2 + rng.IntN(3),
			settleFor: 30 * time.Second, faultsFor: 3 * time.Second})
	}
}

// undoWrites are the writes that undo a checkout's.
var undoWrites = []sandbox.Endpoint{
	{Service: sandbox.ServicePayment, Route: sandbox.RouteVoid},
	{Service: sandbox.ServicePayment, Route: sandbox.RouteRefund},
	{Service: sandbox.ServiceProduct, Route: sandbox.RouteRelease},
	{Service: sandbox.ServiceOrder, Route: sandbox.RouteCancel},
}

// injectChaos injects a cycle's random faults and describes them: most
// cycles slow two of the checkout's writes, so that checkouts are in
// flight at every step when the kill comes, and up to two routes fail at
// random, a write of the checkout or, one time in five, an undo.
func injectChaos(t *testing.T, rt *sandboxtest.Running, rng *rand.Rand) []string {
	var desc []string
	add := func(ep sandbox.Endpoint, f sandbox.Fault) {
		f.Route = ep.Route
		rt.Inject(t, ep.Service, f)
		b, _ := json.Marshal(f)
		desc = append(desc, ep.Service+" "+string(b))
	}
	writes := sandbox.CheckoutWrites()
	if rng.Float64() < 0.7 {
		for range 2 {
			add(writes[rng.IntN(len(writes))], sandbox.Fault{LatencyMS: 10 + rng.IntN(50)})
		}
	}
	for range rng.IntN(3) {
		ep := writes[rng.IntN(len(writes))]
		if rng.Float64() < 0.2 {
			ep = undoWrites[rng.IntN(len(undoWrites))]
		}
		f := sandbox.Fault{Rate: 0.1 + 0.2*rng.Float64(), After: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			f.Status = http.StatusServiceUnavailable
		} else {
			f.Drop = true
		}
		add(ep, f)
	}
	return desc
}

// crashRig runs the real bff-mobile binary as a child process beside an
// in-process sandbox, on one address and one journal, so that a test can
// SIGKILL it and start it again; and it keeps what the cycles run on it
// were answered, which every later cycle checks the sandbox against.
type crashRig struct {
	t      *testing.T
	rt     *sandboxtest.Running
	bin    string
	base   string
	env    map[string]string
	log    *os.File
	live   *crashChild // killed when the test ends
	client *http.Client
	auth   string
	// answered is every order answered 201, by id, with its key.
	answered map[string]string
	// violations counts the invariants found broken.
	violations int
}

// ampleProducts are the products most keys buy, stocked so that no cycle
// runs out of them.
var ampleProducts = []int64{1, 2, 3, 4, 5}

// newCrashRig builds bff-mobile, starts it with its journal's settings
// (env, in pairs) and logs Ada in.
func newCrashRig(t *testing.T, env ...string) *crashRig {
	t.Helper()
	dir := t.TempDir()
	r := &crashRig{t: t, bin: buildBFF(t, dir), rt: sandboxtest.Start(t, sandbox.Config{}),
		client: &http.Client{Timeout: 5 * time.Second}, answered: map[string]string{}}
	for _, id := range ampleProducts {
		r.rt.Stock(t, id, 1_000_000)
	}
	addr := servertest.FreeAddr(t)
	r.base = "http://" + addr
	r.env = stackEnv(r.rt, slices.Concat([]string{
		"BFF_MOBILE_ADDR", addr,
		// A fixed port, which the healthcheck subcommand asks.
		"ADMIN_ADDR", servertest.FreeAddr(t),
		"ORDER_RECOVERY_INTERVAL", "200ms",
		"ORDER_LEASE_TTL", "2s",
		// The sandbox applies a write at once or never: what is missing
		// after a second will not land.
		"ORDER_LATE_WRITES", "1s",
		"LOG_LEVEL", "warn",
	}, env)...)
	logPath := filepath.Join(dir, "bff-mobile.log")
	var err error
	if r.log, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.log.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of the bff-mobile log (%s):\n%s", logPath, crashLogTail(logPath, 60))
		}
	})
	t.Cleanup(func() {
		if r.live != nil {
			r.live.kill()
		}
	})
	r.start("start")
	checkHealthcheck(t, r.bin, r.env, "a ready BFF", true)
	r.auth = "Bearer " + crashLogin(t, r.client, r.base)
	return r
}

// buildBFF builds bff-mobile into dir and returns the binary's path.
func buildBFF(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build bff-mobile with")
	}
	bin := filepath.Join(dir, "bff-mobile")
	built := time.Now()
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build bff-mobile: %v\n%s", err, out)
	}
	t.Logf("built bff-mobile in %v", time.Since(built).Round(time.Millisecond))
	return bin
}

// start starts the binary and waits until it is ready.
func (r *crashRig) start(label string) {
	r.t.Helper()
	fmt.Fprintf(r.log, "--- %s at %s\n", label, time.Now().Format(time.RFC3339Nano))
	p, err := startCrashChild(r.bin, r.env, r.log)
	if err != nil {
		r.t.Fatal(err)
	}
	r.live = p
	p.waitReady(r.t, r.base)
}

// rushPlan is the shape of one cycle: n keys, at most concurrency in
// flight, sent gap apart, the kill once killAt were sent. One key in ten
// pays with a declined card and one in ten buys the scarce product, of
// which scarceStock units are left. Every key must have its final answer
// within settleFor of the restart. faultsFor, when set, is how long after
// the restart the sandbox's faults are cleared.
type rushPlan struct {
	n, concurrency, killAt int
	gap                    time.Duration
	scarce                 int64
	scarceStock            int
	settleFor, faultsFor   time.Duration
}

// rushKey is one Idempotency-Key of a rush: what it sends, the final
// answers its order allows, and what it was answered.
type rushKey struct {
	key     string
	body    []byte
	scarce  bool
	allowed func(crashAnswer) bool
	// first is the answer before the kill, when sent then and firstErr is
	// nil; final is the one it settled on after the restart.
	sent     bool
	first    crashAnswer
	firstErr error
	final    crashAnswer
	settled  bool
}

// keys makes the plan's keys.
func (p rushPlan) keys(t *testing.T) []*rushKey {
	ks := make([]*rushKey, p.n)
	for i := range ks {
		k := &rushKey{key: servertest.NewKey(), allowed: func(a crashAnswer) bool { return a.status == http.StatusCreated }}
		body := orderBody("tok_visa", line(ampleProducts[i%len(ampleProducts)], 1))
		switch i % 10 {
		case 3:
			body = orderBody("tok_declined", line(ampleProducts[i%len(ampleProducts)], 1))
			k.allowed = func(a crashAnswer) bool {
				return a.status == http.StatusPaymentRequired && a.code == "payment_declined"
			}
		case 7:
			body, k.scarce = orderBody("tok_visa", line(p.scarce, 1)), true
			k.allowed = func(a crashAnswer) bool {
				return a.status == http.StatusCreated || a.status == http.StatusConflict && a.code == "out_of_stock"
			}
		}
		var err error
		if k.body, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	return ks
}

// cycle runs one rush: the kill mid-flight, the restart, every key settled,
// and every check.
func (r *crashRig) cycle(p rushPlan) {
	t := r.t
	t.Helper()
	r.rt.Stock(t, p.scarce, p.scarceStock)
	ks := p.keys(t)
	r.rush(p, ks)
	checkHealthcheck(t, r.bin, r.env, "a killed BFF", false)
	atKill := r.rt.State(t)

	restarted := time.Now()
	r.start("restart after SIGKILL")
	if p.faultsFor > 0 {
		cleared := time.AfterFunc(p.faultsFor, func() { _ = r.rt.ClearFaults(context.Background()) })
		defer cleared.Stop()
	}
	after := r.settle(ks, restarted.Add(p.settleFor))
	recovery := time.Since(restarted)
	_ = r.rt.ClearFaults(context.Background())

	before := map[string]int{}
	for _, k := range ks {
		switch {
		case !k.sent:
		case k.firstErr != nil:
			before["cut off"]++
		default:
			before[strconv.Itoa(k.first.status)]++
		}
	}
	found := r.violations
	r.checkKeys(p, ks)
	st := r.quiet()
	r.checkSandbox(p, ks, st)
	t.Logf("keys: %d; answers before the kill: %v; after the restart: %s; recovery time %v",
		p.n, before, after, recovery.Round(time.Millisecond))
	t.Logf("sandbox just after the kill: %s; at the end: %s; violations: %d", crashHeld(atKill), crashHeld(st), r.violations-found)
}

// post sends k's order.
func (r *crashRig) post(k *rushKey) (crashAnswer, error) {
	return crashPostOrder(r.client, r.base, r.auth, k.key, k.body)
}

// rush sends the keys, gap apart so that those in flight at the kill are
// spread over every step of the saga rather than moving in lockstep, and
// SIGKILLs the BFF once killAt were sent; nothing more is sent then.
func (r *crashRig) rush(p rushPlan, ks []*rushKey) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, p.concurrency)
	for i, k := range ks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			k.first, k.firstErr = r.post(k)
			k.sent = true
		}()
		time.Sleep(p.gap)
		if i+1 == p.killAt {
			r.live.kill()
			break
		}
	}
	wg.Wait()
	r.client.CloseIdleConnections()
}

// settle retries every key, at most concurrency at once, until it has a
// final answer or deadline passes, and describes the retries.
func (r *crashRig) settle(ks []*rushKey, deadline time.Time) string {
	var retries, busy, unavailable, transport atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 12)
	for _, k := range ks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for time.Now().Before(deadline) {
				retries.Add(1)
				ans, err := r.post(k)
				switch {
				case err != nil:
					transport.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				case ans.status == http.StatusConflict && ans.code == "idempotency_key_in_use":
					busy.Add(1)
					time.Sleep(ans.wait(time.Second))
					continue
				case ans.status >= 500:
					// 503 after an interrupted saga that was undone, or
					// an upstream's fault: the next retry places the order.
					unavailable.Add(1)
					time.Sleep(ans.wait(time.Second))
					continue
				}
				k.final, k.settled = ans, true
				return
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d requests (%d answered 409 in use, %d answered 5xx, %d transport errors)",
		retries.Load(), busy.Load(), unavailable.Load(), transport.Load())
}

// checkKeys checks each key's final answer: one its order allows, the one
// it had before the kill if that was final, replayed as such, and an
// order answered to no other key.
func (r *crashRig) checkKeys(p rushPlan, ks []*rushKey) {
	t := r.t
	t.Helper()
	violate := r.violate
	ends := map[string]int{}
	for _, k := range ks {
		if !k.settled {
			violate("key %s: no final answer within %v of the restart", k.key, p.settleFor)
			continue
		}
		fin := k.final
		ends[strings.TrimSpace(strconv.Itoa(fin.status)+" "+fin.code)]++
		if fin.status == http.StatusCreated {
			if fin.orderID == "" {
				violate("key %s: 201 without an order id: %s", k.key, fin.body)
			} else if other, dup := r.answered[fin.orderID]; dup {
				violate("keys %s and %s were both answered with order %s", other, k.key, fin.orderID)
			} else {
				r.answered[fin.orderID] = k.key
			}
		}
		if !k.allowed(fin) {
			violate("key %s: final answer %d %s, not one its order allows: %s", k.key, fin.status, fin.code, fin.body)
		}
		if k.sent && k.firstErr == nil && final(k.first) &&
			(k.first.status != fin.status || k.first.code != fin.code || k.first.orderID != fin.orderID) {
			violate("key %s: answered %d %s (order %q) before the kill, %d %s (order %q) after it",
				k.key, k.first.status, k.first.code, k.first.orderID, fin.status, fin.code, fin.orderID)
		}
		// The outcome is final: a further retry replays it.
		again, err := r.post(k)
		switch {
		case err != nil:
			violate("key %s: replay: %v", k.key, err)
		case again.status != fin.status || again.code != fin.code:
			violate("key %s: replay answered %d %s, want the final %d %s", k.key, again.status, again.code, fin.status, fin.code)
		case fin.status == http.StatusCreated && (again.orderID != fin.orderID || again.replayed != "true"):
			violate("key %s: replay answered order %s with Idempotent-Replayed %q, want order %s and true",
				k.key, again.orderID, again.replayed, fin.orderID)
		}
	}
	t.Logf("final answers: %v", ends)
}

// quiet waits, up to 10s, for the sandbox to have nothing in flight, held
// or pending, and returns its state.
func (r *crashRig) quiet() sandbox.State {
	t := r.t
	t.Helper()
	if !r.rt.Sandbox.WaitIdle() {
		t.Error("the sandbox still had requests in flight after 10s")
	}
	until := time.Now().Add(10 * time.Second)
	for {
		st := r.rt.State(t)
		if crashQuiet(st) || time.Now().After(until) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSandbox checks the quiet sandbox against every 201 answered so far:
// its invariants, no pending order, one confirmed order per 201 and per
// key, Ada's, and the scarce product sold exactly as often as this
// cycle's 201s for it.
func (r *crashRig) checkSandbox(p rushPlan, ks []*rushKey, st sandbox.State) {
	t := r.t
	t.Helper()
	violate := r.violate
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
			if _, ok := r.answered[o.ID]; !ok {
				violate("confirmed order %s (reference %q) was answered to no key", o.ID, o.Reference)
			}
			if o.UserID != sandbox.Ada.ID {
				violate("confirmed order %s belongs to %q, want %q", o.ID, o.UserID, sandbox.Ada.ID)
			}
		}
	}
	if confirmed != len(r.answered) {
		violate("%d confirmed orders, want one per key answered 201 (%d)", confirmed, len(r.answered))
	}
	for saga, ids := range perSaga {
		if len(ids) > 1 {
			violate("key of saga %s has %d confirmed orders: %v", saga, len(ids), ids)
		}
	}
	scarceCreated := 0
	for _, k := range ks {
		if k.scarce && k.settled && k.final.status == http.StatusCreated {
			scarceCreated++
		}
	}
	for _, lvl := range st.Product.Products {
		if lvl.ID == p.scarce && (lvl.Sold != scarceCreated || lvl.Sold > p.scarceStock) {
			violate("product %d: %d units sold for %d keys answered 201, from a stock of %d", p.scarce, lvl.Sold, scarceCreated, p.scarceStock)
		}
	}
}

// violate fails the test with a violation of an invariant, and counts it.
func (r *crashRig) violate(format string, args ...any) {
	r.t.Helper()
	r.violations++
	r.t.Errorf(format, args...)
}

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

// startCrashChild starts bin with args, env as its whole environment, and
// its output on log.
func startCrashChild(bin string, env map[string]string, log *os.File, args ...string) (*crashChild, error) {
	cmd := exec.Command(bin, args...)
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
	dir := t.TempDir()
	bin := buildBFF(t, dir)
	rt := sandboxtest.Start(t, sandbox.Config{})
	addr := servertest.FreeAddr(t)
	// The listen address from the -addr flag, which wins over the
	// variable's.
	env := stackEnv(rt, "BFF_MOBILE_ADDR", "127.0.0.1:1", "STATE_DIR", filepath.Join(dir, "state"),
		"SHUTDOWN_DELAY", "1h", "LOG_LEVEL", "warn")
	logf, err := os.Create(filepath.Join(dir, "bff-mobile.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	p, err := startCrashChild(bin, env, logf, "-addr", addr)
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
