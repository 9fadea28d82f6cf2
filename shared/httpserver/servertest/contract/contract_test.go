package contract_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/contract"
)

func load(t *testing.T, opts ...contract.Option) *contract.Contract {
	t.Helper()
	data, err := os.ReadFile("testdata/items.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Load(data, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// answer is what the test server replies.
type answer struct {
	status int
	header []string // name, value pairs
	body   string
	gzip   bool
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	item      = `{"id":"a1","name":"Lamp","price":1999}`
	notFound  = `{"type":"https://storefront.dev/problems/not_found","title":"Not found","status":404,"code":"not_found"}`
	ctJSON    = "application/json"
	ctProblem = "application/problem+json"
	etag      = `"v1"`
)

func TestCheck(t *testing.T) {
	c := load(t, contract.Exclude("/healthz"))
	servertest.SetContract(c)
	t.Cleanup(func() { servertest.SetContract(nil) })

	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		answer  answer
		// want is a substring of the violation; "" means the exchange passes.
		want string
	}{
		{
			name: "documented answer", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: item},
		},
		{
			name: "3.1 type array allows null", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: `{"id":"a1","name":"Lamp","price":1,"note":null}`},
		},
		{
			name: "required header missing", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON}, body: item},
			want:   `"ETag" missing`,
		},
		{
			name: "header breaks its schema", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", `W/"weak"`}, body: item},
			want:   `"ETag" doesn't match`,
		},
		{
			name: "undocumented member", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: `{"id":"a1","name":"Lamp","price":1,"colour":"red"}`},
			want:   "colour",
		},
		{
			name: "wrong type", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: `{"id":"a1","name":"Lamp","price":"19.99"}`},
			want:   "doesn't match schema",
		},
		{
			name: "wrong content type", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", "text/plain", "ETag", etag}, body: item},
			want:   "text/plain",
		},
		{
			name: "gzip body is decoded", method: "GET", path: "/items/a1", headers: []string{"Accept-Encoding", "gzip"},
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: item, gzip: true},
		},
		{
			name: "gzip body is checked", method: "GET", path: "/items/a1", headers: []string{"Accept-Encoding", "gzip"},
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: `{"id":"a1"}`, gzip: true},
			want:   "doesn't match schema",
		},
		{
			name: "undocumented status", method: "GET", path: "/items/a1",
			answer: answer{status: 418, header: []string{"Content-Type", ctProblem}, body: notFound},
			want:   "status 418 is not documented",
		},
		{
			name: "problem with the wrong status member", method: "GET", path: "/items/a1",
			answer: answer{status: 404, header: []string{"Content-Type", ctProblem}, body: strings.Replace(notFound, "404", "400", 1)},
			want:   "doesn't match schema",
		},
		{
			name: "not modified", method: "GET", path: "/items/a1", headers: []string{"If-None-Match", etag},
			answer: answer{status: 304, header: []string{"ETag", etag}},
		},
		{
			name: "not modified without its ETag", method: "GET", path: "/items/a1", headers: []string{"If-None-Match", etag},
			answer: answer{status: 304},
			want:   `"ETag" missing`,
		},
		{
			name: "contract header on a response that does not declare it", method: "GET", path: "/items/a1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag, "Retry-After", "2"}, body: item},
			want:   "Retry-After sent but not declared",
		},
		{
			name: "accepted request", method: "POST", path: "/items", body: map[string]string{"name": "Lamp"}, headers: []string{"Authorization", "Bearer t"},
			answer: answer{status: 201, header: []string{"Content-Type", ctJSON, "Location", "/items/a1"}, body: item},
		},
		{
			name: "accepted request the document refuses", method: "POST", path: "/items", body: map[string]any{"name": "Lamp", "extra": 1}, headers: []string{"Authorization", "Bearer t"},
			answer: answer{status: 201, header: []string{"Content-Type", ctJSON, "Location", "/items/a1"}, body: item},
			want:   "request accepted by the server is not valid",
		},
		{
			name: "accepted request without the documented credentials", method: "POST", path: "/items", body: map[string]string{"name": "Lamp"},
			answer: answer{status: 201, header: []string{"Content-Type", ctJSON, "Location", "/items/a1"}, body: item},
			want:   "security requirement",
		},
		{
			name: "accepted request with a parameter the document refuses", method: "GET", path: "/items/A-1",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON, "ETag", etag}, body: item},
			want:   `path parameter "id"`,
		},
		{
			name: "refused parameter is not judged", method: "GET", path: "/items/A-1",
			answer: answer{status: 404, header: []string{"Content-Type", ctProblem}, body: notFound},
		},
		{
			name: "refused request is not judged", method: "POST", path: "/items", body: "{", headers: []string{"Authorization", "Bearer t"},
			answer: answer{status: 400, header: []string{"Content-Type", ctProblem}, body: strings.Replace(notFound, "404", "400", 1)},
		},
		{
			name: "declared header with an integer schema", method: "POST", path: "/items", body: map[string]string{"name": "Lamp"}, headers: []string{"Authorization", "Bearer t"},
			answer: answer{status: 429, header: []string{"Content-Type", ctProblem, "Retry-After", "soon"}, body: strings.Replace(notFound, "404", "429", 1)},
			want:   "Retry-After",
		},
		{
			name: "no content as documented", method: "DELETE", path: "/items/a1/flag",
			answer: answer{status: 202},
		},
		{
			name: "content where the document has none", method: "DELETE", path: "/items/a1/flag",
			answer: answer{status: 202, header: []string{"Content-Type", ctJSON}, body: "{}"},
			want:   "has no content",
		},
		{
			name: "unknown route answered with a problem", method: "GET", path: "/nowhere",
			answer: answer{status: 404, header: []string{"Content-Type", ctProblem}, body: notFound},
		},
		{
			name: "unknown route answered with content", method: "GET", path: "/nowhere",
			answer: answer{status: 200, header: []string{"Content-Type", ctJSON}, body: item},
			want:   "undocumented operation answered 200",
		},
		{
			name: "undocumented method answered 405", method: "PUT", path: "/items/a1",
			answer: answer{status: 405, header: []string{"Content-Type", ctProblem}, body: strings.Replace(notFound, "404", "405", 1)},
		},
		{
			name: "unknown route answered with a loose problem", method: "GET", path: "/nowhere",
			answer: answer{status: 404, header: []string{"Content-Type", ctProblem}, body: `{"status":404,"error":"nope"}`},
			want:   "components.schemas.Problem",
		},
		{
			name: "CORS preflight", method: "OPTIONS", path: "/items", headers: []string{"Origin", "https://shop.example", "Access-Control-Request-Method", "POST"},
			answer: answer{status: 204, header: []string{"Access-Control-Allow-Origin", "https://shop.example"}},
		},
		{
			name: "OPTIONS that is no preflight", method: "OPTIONS", path: "/items",
			answer: answer{status: 204},
			want:   "undocumented operation answered 204",
		},
		{
			name: "excluded path", method: "GET", path: "/healthz",
			answer: answer{status: 200, header: []string{"Content-Type", "text/plain"}, body: "ok"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := servertest.Start(t, serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i+1 < len(tc.answer.header); i += 2 {
					w.Header().Set(tc.answer.header[i], tc.answer.header[i+1])
				}
				body := []byte(tc.answer.body)
				if tc.answer.gzip {
					body = gzipped(t, tc.answer.body)
					w.Header().Set("Content-Encoding", "gzip")
				}
				w.WriteHeader(tc.answer.status)
				_, _ = w.Write(body)
			})), nil)
			r, err := servertest.Send(tc.method, base+tc.path, tc.body, tc.headers...)
			if r.Status != tc.answer.status {
				t.Fatalf("status = %d, want %d (err %v)", r.Status, tc.answer.status, err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no violation", err)
			case tc.want != "" && err == nil:
				t.Errorf("got no violation, want one mentioning %q", tc.want)
			case tc.want != "" && !errors.Is(err, servertest.ErrContract):
				t.Errorf("got %v, want an error wrapping servertest.ErrContract", err)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("got %v, want a violation mentioning %q", err, tc.want)
			}
			var v *contract.Violation
			if err != nil && !errors.As(err, &v) {
				t.Errorf("got %T, want a *contract.Violation inside", err)
			}
		})
	}
}

// TestUncheckedExchanges: only the servers Start runs are judged, and only
// while a contract is set.
func TestUncheckedExchanges(t *testing.T) {
	teapot := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	underTest := servertest.Start(t, serve(teapot), nil)
	other := httptest.NewServer(teapot)
	defer other.Close()
	c := load(t)
	t.Cleanup(func() { servertest.SetContract(nil) })
	tests := []struct {
		name     string
		contract servertest.Checker
		base     string
		wantErr  bool
	}{
		{"no contract", nil, underTest, false},
		{"server not started by Start", c, other.URL, false},
		{"server under test", c, underTest, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			servertest.SetContract(tc.contract)
			r, err := servertest.Send("GET", tc.base+"/items/a1", nil)
			if r.Status != http.StatusTeapot {
				t.Fatalf("status = %d, want 418", r.Status)
			}
			if got := err != nil; got != tc.wantErr {
				t.Errorf("got error %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}

// serve is a servertest.RunFunc for a fixed handler: it listens on a free
// port, logs the line Start waits for, answers /readyz itself and serves
// until its context ends.
func serve(h http.Handler) servertest.RunFunc {
	return func(ctx context.Context, _ func(string) string, stdout io.Writer) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {})
		mux.Handle("/", h)
		srv := &http.Server{Handler: mux}
		fmt.Fprintf(stdout, `{"msg":"listening","url":"http://%s"}`+"\n", ln.Addr())
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func TestDescribes(t *testing.T) {
	c := load(t)
	tests := []struct {
		method, pattern string
		want            bool
	}{
		{"GET", "/items/:id", true},
		{"GET", "/items/{id}", true},
		{"get", "/items/:id", true},
		{"POST", "/items", true},
		{"DELETE", "/items/:id/flag", true},
		{"GET", "/items", false},
		{"GET", "/items/:key", false},
		{"GET", "/items/:id/", false},
		{"GET", "/healthz", false},
	}
	for _, tc := range tests {
		if got := c.Describes(tc.method, tc.pattern); got != tc.want {
			t.Errorf("Describes(%q, %q) = %v, want %v", tc.method, tc.pattern, got, tc.want)
		}
	}
	want := []contract.Operation{{"POST", "/items"}, {"GET", "/items/{id}"}, {"DELETE", "/items/{id}/flag"}}
	if got := c.Operations(); !slices.Equal(got, want) {
		t.Errorf("Operations() = %v, want %v", got, want)
	}
}

func TestLoadRefuses(t *testing.T) {
	base, err := os.ReadFile("testdata/items.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"not JSON", "{", "load"},
		{"OpenAPI 3.0", strings.Replace(string(base), `"3.1.0"`, `"3.0.3"`, 1), "want 3.1"},
		{"no Problem schema", strings.ReplaceAll(string(base), "Problem", "Trouble"), "components.schemas.Problem"},
		{"example breaking its schema", strings.Replace(string(base), `"price": 1999`, `"price": "cheap"`, 1), "validate"},
		{"dangling reference", strings.Replace(string(base), `#/components/responses/NotFound`, `#/components/responses/Gone`, 1), "Gone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := contract.Load([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tests := map[string]string{
		"/v1/orders/:id":      "/v1/orders/{id}",
		"/v1/orders":          "/v1/orders",
		"/a/:x/b/:y":          "/a/{x}/b/{y}",
		"/api/products/:id/x": "/api/products/{id}/x",
	}
	for in, want := range tests {
		if got := contract.Template(in); got != want {
			t.Errorf("Template(%q) = %q, want %q", in, got, want)
		}
	}
}
