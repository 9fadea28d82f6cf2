package scenario

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
)

// The edge scenarios send what a hostile or broken client sends: each is
// refused before any handler reads it or any upstream hears of it.

// bombMiB is what the bomb inflates to: enough that one decoding (Fiber
// allocates five times as much doing it) stands far above the allocation
// bound below, little enough that a BFF which decodes fails the test
// rather than the machine.
const bombMiB = 64

// encodedBodiesRefused posts a gzip bomb, gzip(gzip(64 MiB of zeros)) of a
// few hundred bytes labelled "gzip, gzip", 20 times to the login and order
// routes: each is a 415 with Accept-Encoding: identity, the process
// allocates less than half of what one decoding would meanwhile, and no
// upstream is called. So is a 5 MB order gzipped under the body limit.
func encodedBodiesRefused(t *testing.T, sh Shop) {
	s, buyer := sh.ada(t)
	bomb := gzipBomb(t, bombMiB)
	t.Logf("bomb: %d bytes", len(bomb))
	big := gzipped(t, fmt.Sprintf(`{"items":[{"product_id":1,"quantity":1}],"payment_token":"%s"}`, strings.Repeat("t", 5_000_000)))
	if len(big) >= 64<<10 {
		t.Fatalf("the gzipped order is %d bytes, want it under the 64 KiB body limit", len(big))
	}
	before := callsOf(t, s)

	var start, end, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&start)
	for range 20 {
		for _, path := range []string{sh.LoginPath, sh.Orders} {
			r := servertest.Do(t, "POST", s.Base+path, bomb, append(buyer(), "Content-Encoding", "gzip, gzip")...)
			checkUnsupportedCoding(t, r)
		}
	}
	runtime.ReadMemStats(&end)
	runtime.GC()
	runtime.ReadMemStats(&after)
	allocated := end.TotalAlloc - start.TotalAlloc
	t.Logf("heap in use: %.1f MiB before, %.1f MiB after the 40 bombs; %.1f MiB allocated meanwhile",
		mib(start.HeapAlloc), mib(after.HeapAlloc), mib(allocated))
	if limit := uint64(bombMiB << 20 / 2); allocated >= limit {
		t.Errorf("allocated %.1f MiB during the 40 bombs, want less than %.1f: a body was decoded", mib(allocated), mib(limit))
	}

	r := servertest.Do(t, "POST", s.Base+sh.Orders, big, append(buyer(), "Content-Encoding", "gzip")...)
	checkUnsupportedCoding(t, r)
	checkNoCalls(t, s, before)
}

// checkUnsupportedCoding checks the refusal of a body with a content
// coding.
func checkUnsupportedCoding(t *testing.T, r servertest.Response) {
	t.Helper()
	if r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415; body %.200s", r.Status, r.Body)
	}
	if p := r.Problem(t); p["code"] != "unsupported_media_type" {
		t.Errorf("problem %v, want unsupported_media_type", p)
	}
	if got := r.Header.Get("Accept-Encoding"); got != "identity" {
		t.Errorf("Accept-Encoding %q, want identity", got)
	}
}

// gzipBomb returns gzip(gzip(n MiB of zeros)). The inner stream is n
// copies of one gzip member of a MiB, which a gzip reader reads as one
// stream, so building it costs one MiB of compression.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	member := gzipped(t, string(make([]byte, 1<<20)))
	return gzipped(t, string(bytes.Repeat(member, n)))
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// malformedRequestsEchoNothing sends requests that are not well-formed
// HTTP, carrying a bearer token and a session cookie: each is a 400
// problem (a 501 for a method the server does not know) with the headers
// every answer carries, and the answer holds no part of the request.
func malformedRequestsEchoNothing(t *testing.T, sh Shop) {
	s := sh.Start(t)
	const path = "/SECRETPATH"
	creds := "Authorization: Bearer eyJTOPSECRET.token\r\nCookie: sf_session=TOPSECRETCOOKIE\r\n"
	for _, tt := range []struct{ name, request string }{
		{"control character in a header", "POST " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "X-Note: a\x01b\r\nContent-Length: 2\r\n\r\n{}"},
		{"NUL in a header", "GET " + path + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "X-Note: \x00\r\n\r\n"},
		{"header without a colon", "GET " + path + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "X-Note\r\n\r\n"},
		{"control character in the request line", "GET " + path + "\x01 HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "\r\n"},
		{"no Host", "GET " + path + " HTTP/1.1\r\n" + creds + "\r\n"},
		{"two Hosts", "GET " + path + " HTTP/1.1\r\nHost: HOSTNAME\r\nHost: OTHERHOSTNAME\r\n" + creds + "\r\n"},
		{"Content-Length not a number", "POST " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "Content-Length: two\r\n\r\n{}"},
		{"two Content-Lengths", "POST " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"},
		{"Content-Length and chunked", "POST " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}"},
		{"bad chunk size", "POST " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"},
		{"TLS to the plain port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + creds + "\r\n"},
		{"unknown method", "FOO " + sh.Orders + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "\r\n"},
		{"lower-case method", "get " + path + " HTTP/1.1\r\nHost: HOSTNAME\r\n" + creds + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Raw(t, s.Base, tt.request)
			status, code := http.StatusBadRequest, "invalid_request"
			if strings.Contains(tt.name, "method") {
				status, code = http.StatusNotImplemented, "not_implemented"
			}
			if r.Status != status {
				t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
			}
			if p := r.Problem(t); p["code"] != code || p["instance"] != nil {
				t.Errorf("problem %v, want %s without an instance", p, code)
			}
			for _, h := range []string{"X-Request-Id", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"} {
				if r.Header.Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
			var answer bytes.Buffer
			_ = r.Header.Write(&answer)
			answer.Write(r.Body)
			for _, secret := range []string{"TOPSECRET", "SECRETPATH", "Bearer", "sf_session", "HOSTNAME"} {
				if bytes.Contains(answer.Bytes(), []byte(secret)) {
					t.Errorf("the answer echoes %q:\n%s", secret, answer.Bytes())
				}
			}
		})
	}
}

// repeatedIdempotencyKeyRefused sends orders with two Idempotency-Key
// lines, or a list in one: each is a 400 idempotency_key_invalid, and no
// upstream is called.
func repeatedIdempotencyKeyRefused(t *testing.T, sh Shop) {
	s, buyer := sh.ada(t)
	body := servertest.OrderBody("tok_visa", servertest.Line(1, 1))
	before := callsOf(t, s)
	for _, tt := range []struct {
		name string
		keys []string
	}{
		{"two keys", []string{servertest.NewKey(), servertest.NewKey()}},
		{"one key twice", slices.Repeat([]string{servertest.NewKey()}, 2)},
		{"an empty line and a key", []string{"", servertest.NewKey()}},
		{"a list in one line", []string{fmt.Sprintf("%q, %q", servertest.NewKey(), servertest.NewKey())}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines := http.Header{}
			for h := buyer(); len(h) >= 2; h = h[2:] {
				lines.Set(h[0], h[1])
			}
			lines["Idempotency-Key"] = tt.keys
			r := servertest.DoLines(t, "POST", s.Base+sh.Orders, body, lines)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.Status, r.Body)
			}
			if p := r.Problem(t); p["code"] != "idempotency_key_invalid" {
				t.Errorf("problem %v, want idempotency_key_invalid", p)
			}
		})
	}
	checkNoCalls(t, s, before)
}

// paymentTokenChecked posts orders whose payment_token is not 1 to 128
// printable ASCII characters: each is a 400 naming payment_token, and no
// upstream is called.
func paymentTokenChecked(t *testing.T, sh Shop) {
	s, buyer := sh.ada(t)
	before := callsOf(t, s)
	for _, tt := range []struct{ name, token string }{
		{"NUL", `tok\u0000visa`},
		{"lone surrogate", `\ud800`},
		{"129 characters", strings.Repeat("t", 129)},
		{"empty", ``},
		{"space", `tok visa`},
		{"not ASCII", `tok_visá`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"items":[{"product_id":1,"quantity":1}],"payment_token":"` + tt.token + `"}`
			r := servertest.Do(t, "POST", s.Base+sh.Orders, body, buyer()...)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.Status, r.Body)
			}
			if p := r.Problem(t); p["code"] != "invalid_request" || p["field"] != "payment_token" {
				t.Errorf("problem %v, want invalid_request naming payment_token", p)
			}
		})
	}
	checkNoCalls(t, s, before)
}

// nonCanonicalIDsRefused asks for products by ids that are not the
// canonical decimal spelling of an id, and for orders by ids that no
// service could have issued (order ids are opaque: letters, digits, '-' and
// '_', 1 to 64 of them): each is a 400 naming the id, and no upstream is
// called. Then the canonical ids of a product and of a placed
// order still read them.
func nonCanonicalIDsRefused(t *testing.T, sh Shop) {
	s, buyer := sh.ada(t)
	numeric := []string{"+1", "01", "1e3", "99999999999999999999", "-1", "0", "1.0", "0x1", "%2B1"}
	orderIDs := []string{"+1", "ord.1", "ord~1", "%2B1", "ord%201", strings.Repeat("a", 65)}
	before := callsOf(t, s)
	for _, tt := range []struct {
		path string
		ids  []string
	}{
		{sh.Products, numeric},
		{sh.Orders, orderIDs},
	} {
		for _, id := range tt.ids {
			t.Run(tt.path+"/"+id, func(t *testing.T) {
				r := servertest.Do(t, "GET", s.Base+tt.path+"/"+id, nil, buyer()...)
				if r.Status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %s", r.Status, r.Body)
				}
				if p := r.Problem(t); p["code"] != "invalid_request" || p["field"] != "id" {
					t.Errorf("problem %v, want invalid_request naming id", p)
				}
			})
		}
	}
	checkNoCalls(t, s, before)

	placed := sh.order(t, s, buyer, servertest.OrderBody("tok_visa", servertest.Line(1, 1)))
	var created struct{ ID string }
	placed.JSON(t, &created)
	for _, path := range []string{sh.Products + "/1", sh.Orders + "/" + created.ID} {
		if r := servertest.Do(t, "GET", s.Base+path, nil, buyer()...); r.Status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200; body %s", path, r.Status, r.Body)
		}
	}
}

// calls are the sandbox's request counters, by service and route, of
// every service but the notification service.
type calls map[string]int

// callsOf counts the calls of every service a request of a client can
// reach. The notification service is left out: the order flow sends its
// notifications behind the answers, retried at its own pace, so one may
// land whenever after an order a scenario placed, and it follows an order
// whose own calls the product, order and payment counters show.
func callsOf(t *testing.T, s *servertest.Stack) calls {
	t.Helper()
	st := s.State(t)
	out := calls{}
	for service, requests := range map[string]map[string]int{
		"product": st.Product.Requests, "order": st.Order.Requests, "payment": st.Payment.Requests,
		"user": st.User.Requests,
	} {
		for route, n := range requests {
			out[service+" "+route] = n
		}
	}
	return out
}

// checkNoCalls fails t unless no upstream route, read or write, was called
// since before (notifications aside, see callsOf).
func checkNoCalls(t *testing.T, s *servertest.Stack, before calls) {
	t.Helper()
	if after := callsOf(t, s); !maps.Equal(after, before) {
		t.Errorf("upstream calls changed:\nbefore %v\nafter  %v", before, after)
	}
}

// documentedEdges sends what the documents say at their edges: user_id
// only as a string or an integer, a limit given empty, an email of spaces,
// an Idempotency-Key one character too long: each refused with a 400
// naming the field, nothing reserved; and the values at each bound
// accepted.
func documentedEdges(t *testing.T, sh Shop) {
	s, ada := sh.ada(t)
	body := func(userID any) map[string]any {
		b := servertest.OrderBody("tok_visa", servertest.Line(1, 1))
		b["user_id"] = userID
		return b
	}
	before := callsOf(t, s)
	for _, tt := range []struct {
		name    string
		send    func() servertest.Response
		field   string
		problem string
	}{
		{"user_id null", func() servertest.Response { return sh.order(t, s, ada, body(nil)) }, "user_id", "invalid_request"},
		{"user_id 1.5", func() servertest.Response { return sh.order(t, s, ada, body(1.5)) }, "user_id", "invalid_request"},
		{"user_id 1e3", func() servertest.Response { return sh.order(t, s, ada, body(json.Number("1e3"))) }, "user_id", "invalid_request"},
		{"orders limit=", func() servertest.Response { return servertest.Do(t, "GET", s.Base+sh.Orders+"?limit=", nil, ada()...) }, "limit", "invalid_request"},
		{"products limit=", func() servertest.Response { return servertest.Do(t, "GET", s.Base+sh.Products+"?limit=", nil) }, "limit", "invalid_request"},
		{"email of spaces", func() servertest.Response {
			return servertest.Do(t, "POST", s.Base+sh.LoginPath, map[string]string{"email": "   ", "password": "x"})
		}, "email", "invalid_request"},
		{"Idempotency-Key of 256 characters", func() servertest.Response {
			return sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(1, 1)), "Idempotency-Key", strings.Repeat("k", 256))
		}, "", "idempotency_key_invalid"},
	} {
		r := tt.send()
		p := r.Problem(t)
		if r.Status != http.StatusBadRequest || p["code"] != tt.problem || tt.field != "" && p["field"] != tt.field {
			t.Errorf("%s: %d %v, want 400 %s naming %q", tt.name, r.Status, p, tt.problem, tt.field)
		}
	}
	checkNoCalls(t, s, before)
	for _, tt := range []struct {
		name string
		send func() servertest.Response
		want int
	}{
		{"user_id a string", func() servertest.Response { return sh.order(t, s, ada, body("usr_ada")) }, http.StatusCreated},
		{"user_id an integer", func() servertest.Response { return sh.order(t, s, ada, body(-7)) }, http.StatusCreated},
		{"Idempotency-Key of 255 characters", func() servertest.Response {
			return sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(1, 1)), "Idempotency-Key", strings.Repeat("k", 255))
		}, http.StatusCreated},
		{"limit=50", func() servertest.Response {
			return servertest.Do(t, "GET", s.Base+sh.Orders+"?limit=50", nil, ada()...)
		}, http.StatusOK},
	} {
		if r := tt.send(); r.Status != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
		}
	}
}
