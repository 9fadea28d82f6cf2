package httpserver_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/jsonscan"
)

// hostileServer serves routes that use each input check of the package.
func hostileServer(t *testing.T, edit func(*httpserver.Config)) *testServer {
	t.Helper()
	s := newServer(t, edit)
	type item struct {
		ID  int    `json:"id"`
		Tag string `json:"tag"`
	}
	s.App.Post("/echo", func(c *fiber.Ctx) error {
		var in struct {
			Name  string `json:"name"`
			Items []item `json:"items"`
		}
		if err := jsonscan.DecodeStrict(c.Body(), &in); err != nil {
			return err
		}
		return c.JSON(in)
	})
	s.App.Get("/items/:id", func(c *fiber.Ctx) error {
		id, err := httpserver.PathID(c, "id")
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"id": id})
	})
	s.App.Get("/page", func(c *fiber.Ctx) error {
		p, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		return c.JSON(p)
	})
	s.start(t)
	return s
}

// TestHostileInput sends malformed bodies, paths, queries and oversized
// requests: each gets its 4xx problem naming what is wrong, with the
// headers every answer carries.
func TestHostileInput(t *testing.T) {
	s := hostileServer(t, func(c *httpserver.Config) { c.BodyLimit, c.HeaderLimit = 1024, 4096 })
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		code    string
		field   string
		detail  string
	}{
		{"body over the limit", "POST", "/echo", `{"name":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "payload_too_large", "", ""},
		{"headers over the limit", "GET", "/page", nil, []string{"X-Padding", strings.Repeat("p", 5000)}, 431, "headers_too_large", "", ""},
		{"empty body", "POST", "/echo", "", nil, 400, "malformed_json", "", "empty"},
		{"not JSON", "POST", "/echo", `name=ada`, nil, 400, "malformed_json", "", "not valid JSON"},
		{"truncated", "POST", "/echo", `{"name":"ada"`, nil, 400, "malformed_json", "", "not valid JSON"},
		{"wrong type", "POST", "/echo", `{"name":42}`, nil, 400, "invalid_request", "name", `Wrong type for "name"`},
		{"wrong type nested", "POST", "/echo", `{"items":[{"id":"7"}]}`, nil, 400, "invalid_request", "items[0].id", `Wrong type for "items[0].id": expected a number`},
		{"unknown member", "POST", "/echo", `{"name":"ada","admin":true}`, nil, 400, "invalid_request", "admin", `unknown field "admin"`},
		{"duplicate member", "POST", "/echo", `{"name":"ada","name":"grace"}`, nil, 400, "invalid_request", "name", `"name" appears more than once`},
		{"duplicate nested member", "POST", "/echo", `{"items":[{"id":1},{"id":2,"id":3}]}`, nil, 400, "invalid_request", "items[1].id", `"id" appears more than once`},
		{"trailing data", "POST", "/echo", `{"name":"ada"} {"name":"grace"}`, nil, 400, "malformed_json", "", "data after the JSON object"},
		{"deep nesting", "POST", "/echo", deep, nil, 400, "malformed_json", "", "nests deeper than 16 levels"},
		{"deep arrays", "POST", "/echo", strings.Repeat("[", 500), nil, 400, "malformed_json", "", "nests deeper"},
		// No route takes a form: a multipart body is the bytes sent, which
		// the handler judges, not a form parsed (and refused) before routing.
		{"a multipart type on a JSON body", "POST", "/echo", `{"name":"ada"} x`, []string{"Content-Type", "multipart/form-data; boundary=x"}, 400, "malformed_json", "", "data after the JSON object"},
		{"a multipart body that does not parse", "GET", "/items/a%20b", "--y\r\nnot a part", []string{"Content-Type", "multipart/form-data; boundary=x"}, 400, "invalid_request", "id", "letters, digits"},
		{"id with a space", "GET", "/items/a%20b", nil, nil, 400, "invalid_request", "id", "letters, digits"},
		{"id with traversal", "GET", "/items/..%2F..%2Fadmin", nil, nil, 400, "invalid_request", "id", "letters, digits"},
		{"id with a quote", "GET", "/items/a'b", nil, nil, 400, "invalid_request", "id", "letters, digits"},
		{"id too long", "GET", "/items/" + strings.Repeat("a", 65), nil, nil, 400, "invalid_request", "id", "1 to 64"},
		{"limit zero", "GET", "/page?limit=0", nil, nil, 400, "invalid_request", "limit", "1 to 50"},
		{"limit too large", "GET", "/page?limit=51", nil, nil, 400, "invalid_request", "limit", "1 to 50"},
		{"limit not a number", "GET", "/page?limit=ten", nil, nil, 400, "invalid_request", "limit", "1 to 50"},
		{"limit with a leading zero", "GET", "/page?limit=05", nil, nil, 400, "invalid_request", "limit", "1 to 50"},
		{"limit with a sign", "GET", "/page?limit=%2B5", nil, nil, 400, "invalid_request", "limit", "1 to 50"},
		{"cursor with bad characters", "GET", "/page?cursor=abc%22%3Bdrop", nil, nil, 400, "invalid_request", "cursor", "not valid"},
		{"cursor too long", "GET", "/page?cursor=" + strings.Repeat("A", httpserver.MaxCursorLength+1), nil, nil, 400, "invalid_request", "cursor", "not valid"},
		{"limit twice, the good one first", "GET", "/page?limit=1&limit=100", nil, nil, 400, "invalid_request", "limit", "more than once"},
		{"limit twice, alike", "GET", "/page?limit=5&limit=5", nil, nil, 400, "invalid_request", "limit", "more than once"},
		{"cursor twice", "GET", "/page?cursor=abc&cursor=def", nil, nil, 400, "invalid_request", "cursor", "more than once"},
		{"unknown route", "GET", "/admin", nil, nil, 404, "not_found", "", ""},
		{"wrong method", "DELETE", "/echo", nil, nil, 405, "method_not_allowed", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, tt.method, s.base+tt.path, tt.body, tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			p := r.Problem(t)
			if p["code"] != tt.code || p["status"] != float64(tt.status) {
				t.Errorf("got problem %v, want code %s status %d", p, tt.code, tt.status)
			}
			if got, _ := p["field"].(string); got != tt.field {
				t.Errorf("got field %q, want %q", got, tt.field)
			}
			if got, _ := p["detail"].(string); !strings.Contains(got, tt.detail) {
				t.Errorf("got detail %q, want it to contain %q", got, tt.detail)
			}
			for _, h := range []string{"X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy", "X-Request-Id"} {
				if r.Header.Get(h) == "" {
					t.Errorf("got no %s header on a %d", h, r.Status)
				}
			}
		})
	}
	// Refusals are the client's fault: nothing is logged as a failure.
	if got := s.logs.entries(t, "request failed"); len(got) != 0 {
		t.Errorf("got %d failures logged, want 0: %v", len(got), got)
	}
	// The ones refused while being read, before any middleware ran, are
	// counted and logged like every other request.
	metrics := s.scrape(t)
	logged := map[float64]bool{}
	for _, line := range s.logs.entries(t, "request") {
		if line["route"] == "unread" {
			logged[line["status"].(float64)] = true
		}
	}
	for _, status := range []string{"413", "431"} {
		series := `bff_http_request_duration_seconds_count{method="`
		if !strings.Contains(metrics, `route="unread",status="`+status+`"} 1`) || !strings.Contains(metrics, series) {
			t.Errorf("no request counted under route unread, status %s", status)
		}
		if f, _ := strconv.ParseFloat(status, 64); !logged[f] {
			t.Errorf("no access line for the %s refused while being read", status)
		}
		// Timed as answered at once, not from a start fasthttp never
		// stamped (the zero time: 292 years).
		for line := range strings.SplitSeq(metrics, "\n") {
			if strings.HasPrefix(line, "bff_http_request_duration_seconds_sum{") && strings.Contains(line, `route="unread",status="`+status+`"`) {
				if sum, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); sum != 0 {
					t.Errorf("the %s refused while being read took %v s, want 0: %s", status, sum, line)
				}
			}
		}
	}
}

// TestValidInputPasses is the other side of TestHostileInput: input at the
// limits is accepted.
func TestValidInputPasses(t *testing.T) {
	s := hostileServer(t, func(c *httpserver.Config) { c.BodyLimit, c.HeaderLimit = 1024, 4096 })
	tests := []struct {
		name   string
		method string
		path   string
		body   any
	}{
		{"body", "POST", "/echo", `{"name":"ada","items":[{"id":1,"tag":"a"},{"id":2,"tag":"a"}]}`},
		{"same member name in sibling objects", "POST", "/echo", `{"items":[{"id":1},{"id":1}]}`},
		{"body just under the limit", "POST", "/echo", `{"name":"` + strings.Repeat("x", 1000) + `"}`},
		{"id of 64 characters", "GET", "/items/" + strings.Repeat("a", 64), nil},
		{"id with - and _", "GET", "/items/ord_1-a", nil},
		{"page", "GET", "/page?limit=50&cursor=" + strings.Repeat("A", httpserver.MaxCursorLength), nil},
		{"default page", "GET", "/page", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := servertest.Do(t, tt.method, s.base+tt.path, tt.body); r.Status != 200 {
				t.Errorf("got status %d, want 200; body %s", r.Status, r.Body)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
	}
	for _, hsts := range []bool{false, true} {
		s := hostileServer(t, func(c *httpserver.Config) { c.HSTS = hsts })
		for _, path := range []string{"/page", "/items/bad%20id", "/nowhere"} {
			r := servertest.Do(t, "GET", s.base+path, nil)
			for h, v := range want {
				if got := r.Header.Get(h); got != v {
					t.Errorf("HSTS %v, GET %s: got %s %q, want %q", hsts, path, h, got, v)
				}
			}
			got := r.Header.Get("Strict-Transport-Security")
			if hsts != (got == "max-age=63072000; includeSubDomains") || !hsts && got != "" {
				t.Errorf("HSTS %v, GET %s: got Strict-Transport-Security %q", hsts, path, got)
			}
		}
	}
}

// TestPanicBecomesProblem checks that a panicking handler answers a 500
// problem carrying the request id and nothing of the panic, and is logged
// once, with its stack.
func TestPanicBecomesProblem(t *testing.T) {
	s := newServer(t, nil)
	const secret = "db password is hunter2"
	s.App.Get("/boom", func(*fiber.Ctx) error { panic(secret) })
	s.App.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	s.start(t)

	r := servertest.Do(t, "GET", s.base+"/boom", nil, "X-Request-ID", "req-panic-1")
	if r.Status != 500 {
		t.Fatalf("got status %d, want 500", r.Status)
	}
	p := r.Problem(t)
	if p["code"] != "internal" || p["request_id"] != "req-panic-1" || r.Header.Get("X-Request-Id") != "req-panic-1" {
		t.Errorf("got problem %v and X-Request-ID %q, want internal with request_id req-panic-1", p, r.Header.Get("X-Request-Id"))
	}
	for _, leak := range []string{secret, "goroutine", ".go:"} {
		if strings.Contains(string(r.Body), leak) {
			t.Errorf("body %s reveals %q", r.Body, leak)
		}
	}
	panics := s.logs.entries(t, "panic")
	if len(panics) != 1 {
		t.Fatalf("got %d panic log entries, want 1", len(panics))
	}
	if panics[0]["panic"] != secret || panics[0]["request_id"] != "req-panic-1" || !strings.Contains(panics[0]["stack"].(string), "goroutine") {
		t.Errorf("got panic log %v, want the panic, the request id and the stack", panics[0])
	}
	if got := s.logs.entries(t, "request failed"); len(got) != 0 {
		t.Errorf("got the panic logged again as %v", got)
	}
	// The server lives on.
	if r := servertest.Do(t, "GET", s.base+"/ok", nil); r.Status != 200 {
		t.Errorf("after the panic: GET /ok status %d, want 200", r.Status)
	}
}

// TestMetricLabelsSurviveConnectionReuse sends requests of two methods over
// one kept-alive connection: each is counted under its own method, however
// fasthttp reuses its buffers between them.
func TestMetricLabelsSurviveConnectionReuse(t *testing.T) {
	s := hostileServer(t, nil)
	for range 3 {
		servertest.Do(t, "POST", s.base+"/echo", `{"name":"ada"}`)
		servertest.Do(t, "GET", s.base+"/page", nil)
	}
	got := s.requests(t, "method", "route")
	want := map[string]uint64{"POST /echo": 3, "GET /page": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got requests by method and route %v, want %v", got, want)
	}
}

// TestSlowClientGetsRequestTimeout sends half a request and stops: the
// server gives up after its read timeout with a 408 problem (the client's
// slowness, not a 504 of ours) and closes the connection.
func TestSlowClientGetsRequestTimeout(t *testing.T) {
	s := hostileServer(t, func(c *httpserver.Config) { c.ReadTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /page HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// A bound on the test, not a timing assertion: the server answers
	// after its own 200ms.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !resp.Close || !strings.Contains(string(body), `"code":"request_timeout"`) {
		t.Errorf("got %d (close %v) %s, want a 408 request_timeout problem and the connection closed", resp.StatusCode, resp.Close, body)
	}
}

// TestClientResetIsNoServerFailure: a client that resets its connection
// while its first request is being read (a phone losing signal, a
// scanner) is no request the server failed: nothing is counted as a 5xx
// or logged as a failure.
func TestClientResetIsNoServerFailure(t *testing.T) {
	s := newServer(t, nil)
	s.start(t)
	for range 3 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GET / HT")) // part of a request line
		time.Sleep(20 * time.Millisecond)  // read by the server, as a start
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close() // a reset
	}
	// What the server does with the resets it does at once; a second
	// leaves it time to have done it on a loaded machine.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got := s.logs.entries(t, "request failed"); len(got) != 0 {
			t.Fatalf("a client's reset logged as a failure: %v", got)
		}
	}
	if metrics := s.scrape(t); strings.Contains(metrics, `route="unread",status="5`) {
		t.Errorf("a client's reset counted as a server error under route unread")
	}
}

// TestUnknownMethodIsNoServerFailure: a method the server does not know
// gets the fixed 501 problem, logged as a request refused while read, not
// as a failure of the server's (it is the client's method).
func TestUnknownMethodIsNoServerFailure(t *testing.T) {
	s := newServer(t, nil)
	s.App.Get("/x", func(c *fiber.Ctx) error { return c.SendString("ok") })
	s.start(t)
	r := servertest.Raw(t, s.base, "FOO /x HTTP/1.1\r\nHost: example\r\n\r\n")
	if p := r.Problem(t); r.Status != http.StatusNotImplemented || p["code"] != "not_implemented" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("status %d problem %v request id %q, want 501 not_implemented with an id", r.Status, p, r.Header.Get("X-Request-Id"))
	}
	if n := len(s.logs.entries(t, "request failed")); n != 0 {
		t.Errorf("%d error lines for a client's unknown method, want none", n)
	}
	if n := len(s.logs.entries(t, "request")); n != 1 {
		t.Errorf("%d request lines, want 1", n)
	}
}
