package httpserver_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/admission"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/ratelimit"
)

// admittedServer serves, behind a fixed concurrency limit of 4 (2 for
// anonymous requests, 3 for signed-in reads, 4 for checkouts) and a quota
// of 5 requests a minute per caller:
//
//	GET /slow    anonymous, answers once release is closed
//	GET /fast    anonymous
//	GET /me      signed in
//	GET /catalog a public read, signed in or not, always anonymous
//	POST /orders signed in, a checkout
//	GET /panic   anonymous, panics
//	GET /refused anonymous, an upstream refusing at once (503)
//	GET /c/fast  GET /fast, behind Cacheable's compression
//	GET /c/me    GET /me with a body worth compressing, behind it too
func admittedServer(t *testing.T) (s *testServer, l *admission.Limiter, release chan struct{}) {
	t.Helper()
	cfg := admission.DefaultConfig()
	cfg.InitialLimit, cfg.MinLimit, cfg.MaxLimit = 4, 4, 4
	l = admission.New(cfg)
	s = newServer(t, nil)
	s.metrics.WatchAdmission(l.Limit, l.InFlight)
	quota := ratelimit.NewMemory(ratelimit.DefaultConfig())
	p := ratelimit.Policy{Name: "test", Quota: 5, Window: time.Minute}
	read := s.Guard(l, httpserver.ClassOf(admission.Authenticated), quota, p)
	checkout := s.Guard(l, httpserver.ClassOf(admission.Checkout), quota, p)
	authed := httpserver.RequireUser(subjectVerifier{}, nil)
	release = make(chan struct{})
	ok := func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"user": httpserver.UserID(c)}) }
	s.App.Get("/slow", read, func(c *fiber.Ctx) error { <-release; return ok(c) })
	s.App.Get("/fast", read, ok)
	s.App.Get("/me", authed, read, ok)
	s.App.Get("/catalog", httpserver.OptionalUser(subjectVerifier{}), s.Guard(l, httpserver.Always(admission.Anonymous), quota, p), ok)
	s.App.Post("/orders", authed, checkout, ok)
	s.App.Get("/panic", s.Admit(l, httpserver.ClassOf(admission.Authenticated)), func(*fiber.Ctx) error { panic("boom") })
	s.App.Get("/refused", read, func(*fiber.Ctx) error { return problem.New(problem.CodeUnavailable, "down") })
	httpserver.Cacheable(s.App, "/c")
	s.App.Get("/c/fast", read, ok)
	s.App.Get("/c/me", authed, read, func(c *fiber.Ctx) error { return c.SendString(strings.Repeat("compressible ", 100)) })
	s.start(t)
	return s, l, release
}

// waitInFlight waits until l has n requests in flight.
func waitInFlight(t *testing.T, l *admission.Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not a timing assertion
	for l.InFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want %d", l.InFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAdmitShedsByClass fills the anonymous share with two slow requests:
// a third anonymous request, even one carrying a token the route does not
// verify, or a signed-in read of the public catalog, is shed at once with a
// 503 overloaded problem and Retry-After, spends none of its caller's
// quota and is counted; signed-in reads and checkouts still get in.
func TestAdmitShedsByClass(t *testing.T) {
	s, l, release := admittedServer(t)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // a check that stops the test must not leave the slow requests hanging
	var wg sync.WaitGroup
	slow := make([]servertest.Response, 2)
	for i := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slow[i] = servertest.Do(t, "GET", s.base+"/slow", nil)
		}()
	}
	waitInFlight(t, l, 2)

	steps := []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		{"anonymous over its share", "GET", "/fast", nil, 503},
		{"an unverified token earns nothing", "GET", "/fast", []string{"Authorization", "Bearer usr_ada"}, 503},
		{"a signed-in read", "GET", "/me", []string{"Authorization", "Bearer usr_ada"}, 200},
		{"a signed-in read of the public catalog", "GET", "/catalog", []string{"Authorization", "Bearer usr_ada"}, 503},
		{"a checkout", "POST", "/orders", []string{"Authorization", "Bearer usr_ada"}, 200},
		{"a shed answer the client would take compressed", "GET", "/c/fast", []string{"Accept-Encoding", "br, gzip"}, 503},
		{"a signed-in read the client takes compressed", "GET", "/c/me", []string{"Authorization", "Bearer usr_ada", "Accept-Encoding", "br"}, 200},
	}
	for _, st := range steps {
		r := servertest.Do(t, st.method, s.base+st.path, nil, st.headers...)
		if r.Status != st.status {
			t.Errorf("%s: status %d, want %d; body %s", st.name, r.Status, st.status, r.Body)
			continue
		}
		// Compressing a shed answer would cost more than it saves, at the
		// worst moment; a success is compressed as usual.
		if enc, want := r.Header.Get("Content-Encoding"), map[int]string{503: "", 200: "br"}[st.status]; st.path == "/c/me" || st.status == 503 {
			if enc != want {
				t.Errorf("%s: Content-Encoding %q, want %q", st.name, enc, want)
			}
		}
		if st.status != 503 {
			continue
		}
		if p := r.Problem(t); p["code"] != "overloaded" || p["status"] != float64(503) {
			t.Errorf("%s: problem %v, want code overloaded, status 503", st.name, p)
		}
		if ra := r.Header.Get("Retry-After"); ra != "1" && ra != "2" {
			t.Errorf("%s: Retry-After %q, want 1 or 2", st.name, ra)
		}
		if rl := r.Header.Get("RateLimit"); rl != "" {
			t.Errorf("%s: RateLimit %q on a shed request, want none: it spends no quota", st.name, rl)
		}
	}
	free()
	wg.Wait()
	for i, r := range slow {
		if r.Status != 200 {
			t.Errorf("slow request %d: status %d, want 200", i, r.Status)
		}
	}
	// The two slow requests took two of the address's five; the two shed
	// ones took none.
	if r := servertest.Do(t, "GET", s.base+"/fast", nil); r.Status != 200 || !strings.HasPrefix(r.Header.Get("RateLimit"), `"test";r=2;`) {
		t.Errorf("after the flood: status %d, RateLimit %q, want 200 and 2 left", r.Status, r.Header.Get("RateLimit"))
	}
	if got := s.counter(t, "bff_admission_shed_total", "class", "anonymous"); got != 4 {
		t.Errorf("bff_admission_shed_total{class=anonymous} = %v, want 4", got)
	}
	// The four sheds get no access line; the first gets a line of its
	// own, then at most one a second, each counting those left out.
	for _, l := range s.logs.entries(t, "request") {
		if l["status"] == float64(503) {
			t.Errorf("a shed request got an access line: %v", l)
		}
	}
	shed := s.logs.entries(t, "request shed")
	if len(shed) < 1 || len(shed) > 4 || shed[0]["shed_unlogged"] != float64(0) || shed[0]["status"] != float64(503) ||
		shed[0]["request_id"] == "" || shed[0]["route"] != "/fast" {
		t.Errorf("shed lines %v, want 1 to 4, the first for /fast with 0 left out", shed)
	}
	unlogged := 0.0
	for _, l := range shed {
		unlogged += l["shed_unlogged"].(float64)
	}
	if n := float64(len(shed)) + unlogged; n > 4 {
		t.Errorf("shed lines count %v sheds, want at most the 4 there were", n)
	}
	if got := s.counter(t, "bff_admission_shed_total", "class", "authenticated") + s.counter(t, "bff_admission_shed_total", "class", "checkout"); got != 0 {
		t.Errorf("signed-in and checkout sheds = %v, want 0", got)
	}
	if got := l.InFlight(); got != 0 {
		t.Errorf("in flight %d once every request was answered, want 0", got)
	}
	logged := map[float64]int{}
	for _, line := range s.logs.entries(t, "request") {
		logged[line["status"].(float64)]++
	}
	if logged[503] != 0 || logged[200] == 0 {
		t.Errorf("access lines by status %v, want some 200s and no 503: sheds are counted, and logging each adds to the load", logged)
	}
	if lines := s.logs.entries(t, "request failed"); len(lines) != 0 {
		t.Errorf("sheds logged %d failures, want none", len(lines))
	}
}

// TestAdmitFreesEveryPlace: a handler that panics, or fails because an
// upstream refused, gives its place back; more of them than the limit in
// a row all get the same answer, not a 503 overloaded.
func TestAdmitFreesEveryPlace(t *testing.T) {
	s, l, _ := admittedServer(t)
	for _, tc := range []struct {
		path   string
		status int
	}{{"/panic", 500}, {"/refused", 503}} {
		for i := range 5 {
			r := servertest.Do(t, "GET", s.base+tc.path, nil)
			if r.Status != tc.status || strings.Contains(string(r.Body), "overloaded") {
				t.Errorf("%s, request %d: status %d body %s, want %d and not overloaded", tc.path, i+1, r.Status, r.Body, tc.status)
			}
		}
		if got := l.InFlight(); got != 0 {
			t.Errorf("%s: in flight %d afterwards, want 0", tc.path, got)
		}
	}
	metrics := s.scrape(t)
	for _, want := range []string{"bff_admission_limit 4", "bff_admission_in_flight 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
