package servertest

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/freeport"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// FreeAddr returns a loopback address nothing listens on, for a server
// that a test starts, or restarts, there later: below the ephemeral range,
// where no connection the test makes meanwhile takes it (see freeport).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addrs, err := freeport.Addrs(1)
	if err != nil {
		tb.Fatal(err)
	}
	return addrs[0]
}

// CheckReadiness checks what /readyz means, on a BFF started through run
// (addrVar is its listen-address setting):
//   - started while its user service (the token keys) is not listening,
//     /healthz answers but /readyz is a 503 naming jwks, until the service
//     comes up on the address the BFF was given;
//   - with its payment service down, /readyz stays 200, naming payment as
//     degraded: one upstream's outage takes no replica out of rotation;
//   - on SIGTERM (with a SHUTDOWN_DELAY), /readyz turns 503 at once while
//     a slow request in flight still completes.
func CheckReadiness(t *testing.T, run RunFunc, addrVar, productPath string) {
	t.Helper()
	rt := sandboxtest.Start(t, sandbox.Config{})
	addr := FreeAddr(t) // nothing listens there until the upstream "starts" below
	env := UpstreamEnv(rt)
	env[addrVar] = "127.0.0.1:0"
	env["UPSTREAM_USER_URLS"] = "http://" + addr
	env["UPSTREAM_PAYMENT_URLS"] = "http://" + FreeAddr(t) // never up
	env["SHUTDOWN_DELAY"] = "2s"
	ctx, stop := context.WithCancel(context.Background())
	base := launch(t, ctx, run, env)

	if r := Do(t, "GET", base+"/healthz", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz: status %d, want 200 while upstreams are down", r.Status)
	}
	r := Do(t, "GET", base+"/readyz", nil)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `"jwks"`) {
		t.Fatalf("/readyz before the token keys are loaded: status %d body %s, want 503 naming jwks", r.Status, r.Body)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the freed port %s was taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: rt.Sandbox.Handler(sandbox.ServiceUser)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	WaitReady(t, base)
	var ready struct {
		Status   string   `json:"status"`
		Degraded []string `json:"degraded"`
	}
	Do(t, "GET", base+"/readyz", nil).JSON(t, &ready)
	if ready.Status != "ready" || !slices.Equal(ready.Degraded, []string{"payment"}) {
		t.Errorf("/readyz with the payment service down: %+v, want ready with payment degraded", ready)
	}

	checkDrain(t, rt, base+productPath+"/1", base, stop)
}

// checkDrain sends a request the product service answers slowly, cancels
// the BFF's context as SIGTERM does, and checks that /readyz is 503 at once
// and the slow request still completes.
func checkDrain(t *testing.T, rt *sandboxtest.Running, slowURL, base string, stop context.CancelFunc) {
	t.Helper()
	if err := rt.InjectFault(context.Background(), sandbox.ServiceProduct, sandbox.Fault{Route: "*", LatencyMS: 800}); err != nil {
		t.Fatal(err)
	}
	slow := make(chan Response, 1)
	go func() {
		r, _ := Send("GET", slowURL, nil)
		slow <- r
	}()
	time.Sleep(200 * time.Millisecond) // the request is in flight
	stop()
	deadline := time.Now().Add(time.Second)
	for {
		r, err := Send("GET", base+"/readyz", nil)
		if err == nil && r.Status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after SIGTERM: %d %v, want 503 within a second", r.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := <-slow; r.Status != http.StatusOK {
		t.Errorf("the request in flight at SIGTERM: status %d, want 200", r.Status)
	}
}
