package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// identity asks for an uncompressed answer, so that bodies and ETags are
// the identity ones (Go's client would otherwise ask for gzip on its own).
var identity = []string{"Accept-Encoding", "identity"}

func TestProductViews(t *testing.T) {
	s := startStack(t)
	s.Stock(t, 8, 0)
	s.CheckViews(t, []servertest.View{
		{Name: "list", Path: "/v1/products?limit=3", Golden: "products_list.json"},
		{Name: "list of a category", Path: "/v1/products?category=toys&limit=2", Golden: "products_list_toys.json"},
		{Name: "detail", Path: "/v1/products/2", Golden: "product_detail.json"},
		{Name: "detail out of stock", Path: "/v1/products/8", Golden: "product_detail_out_of_stock.json"},
	}, identity...)
}

func TestShortDescription(t *testing.T) {
	long := strings.Repeat("word ", 40) + "end. Second sentence."
	tests := []struct {
		name, in, want string
	}{
		{"first sentence", "A thorough tour of Go. Printed on paper.", "A thorough tour of Go."},
		{"one sentence", "Weighs to the gram.", "Weighs to the gram."},
		{"decimal point kept", "Boils 1.5 litres. Fast.", "Boils 1.5 litres."},
		{"long cut at a word", long, strings.TrimSpace(strings.Repeat("word ", 27)) + "…"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shortDescription(tt.in)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n := len([]rune(got)); n > maxDescription {
				t.Errorf("got %d characters, want at most %d", n, maxDescription)
			}
		})
	}
}

func TestPaginationWalksTheCatalog(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		name, category string
		limit          int
	}{
		{"whole catalog", "", 7},
		{"one category", "kitchen", 3},
		{"page size of the category", "books", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { s.WalkCatalog(t, "/v1/products", tt.category, tt.limit) })
	}
}

func TestProductInputsAndFailures(t *testing.T) {
	s := startStack(t)
	s.CheckRefused(t, []servertest.Refused{
		{Name: "unknown product", Path: "/v1/products/9999", Status: 404, Code: "not_found"},
		{Name: "id not a number", Path: "/v1/products/abc", Status: 400, Code: "invalid_request", Field: "id"},
		{Name: "id zero", Path: "/v1/products/0", Status: 400, Code: "invalid_request", Field: "id"},
		{Name: "limit too large", Path: "/v1/products?limit=51", Status: 400, Code: "invalid_request", Field: "limit"},
		{Name: "limit zero", Path: "/v1/products?limit=0", Status: 400, Code: "invalid_request", Field: "limit"},
		{Name: "forged cursor", Path: "/v1/products?cursor=cDE6NA", Status: 400, Code: "invalid_request", Field: "cursor"},
		{Name: "bad category", Path: "/v1/products?category=Books", Status: 400, Code: "invalid_request", Field: "category"},
		{Name: "category twice", Path: "/v1/products?category=books&category=toys", Status: 400, Code: "invalid_request", Field: "category"},
		{Name: "limit twice", Path: "/v1/products?limit=1&limit=100", Status: 400, Code: "invalid_request", Field: "limit"},
	})

	// A cursor of one category is refused in another.
	first := servertest.Do(t, "GET", s.Base+"/v1/products?category=books&limit=2", nil)
	var page productListView
	first.JSON(t, &page)
	other := servertest.Do(t, "GET", s.Base+"/v1/products?category=toys&cursor="+page.NextCursor, nil)
	if p := other.Problem(t); other.Status != 400 || p["field"] != "cursor" {
		t.Errorf("cursor of books used for toys: status %d problem %v, want 400 on cursor", other.Status, p)
	}
}

func TestProductServiceDownIs503(t *testing.T) {
	s := startStack(t)
	s.Inject(t, "product", sandbox.Fault{Route: "*", Status: 503})
	for _, path := range []string{"/v1/products/4", "/v1/products?limit=5"} {
		r := servertest.Do(t, "GET", s.Base+path, nil)
		if p := r.Problem(t); r.Status != 503 || p["code"] != "upstream_unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: status %d problem %v retry-after %q, want 503 upstream_unavailable with Retry-After",
				path, r.Status, p, r.Header.Get("Retry-After"))
		}
	}
}

// TestETagRoundTrip: every GET answer carries a strong ETag; sending it
// back gets a bodiless 304 until the data changes, in the identity and the
// gzip encoding alike.
func TestETagRoundTrip(t *testing.T) {
	// Stock read fresh on every request, so that a change shows at once.
	s, ada := startAsAda(t, "CACHE_STOCK_TTL", "0s")
	placed := s.order(t, ada, orderBody("tok_visa", line(5, 1)))
	var o orderView
	placed.JSON(t, &o)

	// gzipped says whether the answer is big enough to be compressed (200
	// bytes or more); the small order views go out as they are.
	tests := []struct {
		name    string
		path    string
		auth    []string
		gzipped bool
		change  func(t *testing.T)
	}{
		{
			name: "product", path: "/v1/products/12", gzipped: true,
			change: func(t *testing.T) {
				s.Stock(t, 12, 0)
			},
		},
		{
			name: "product list", path: "/v1/products?category=outdoor&limit=3", gzipped: true,
			change: func(t *testing.T) {
				s.Stock(t, 25, 0)
			},
		},
		{
			name: "order list", path: "/v1/orders", auth: []string{"Authorization", ada},
			change: func(t *testing.T) {
				if r := s.order(t, ada, orderBody("tok_visa", line(6, 1))); r.Status != 201 {
					t.Fatalf("second order: status %d", r.Status)
				}
			},
		},
		{name: "order", path: "/v1/orders/" + o.ID, auth: []string{"Authorization", ada}, gzipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := s.Base + tt.path
			first := servertest.Do(t, "GET", url, nil, append(identity, tt.auth...)...)
			etag := first.Header.Get("ETag")
			if first.Status != 200 || len(etag) < 3 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
				t.Fatalf("status %d ETag %q, want 200 with a strong ETag", first.Status, etag)
			}
			if cc := first.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
				t.Errorf("Cache-Control = %q, want revalidation (no-cache)", cc)
			}

			zipped := servertest.Do(t, "GET", url, nil, append([]string{"Accept-Encoding", "gzip"}, tt.auth...)...)
			zipTag := zipped.Header.Get("ETag")
			wantTag, wantEnc := etag, ""
			if tt.gzipped {
				wantTag, wantEnc = strings.TrimSuffix(etag, `"`)+`-gzip"`, "gzip"
			}
			if enc := zipped.Header.Get("Content-Encoding"); enc != wantEnc || zipTag != wantTag {
				t.Errorf("with Accept-Encoding gzip: Content-Encoding %q ETag %q, want %q and %q", enc, zipTag, wantEnc, wantTag)
			}

			for _, held := range []struct{ tag, encoding string }{
				{etag, "identity"},
				{zipTag, "gzip"},
				{`"other", ` + etag, "identity"},
				{"W/" + etag, "identity"},
				{"*", "identity"},
			} {
				r := servertest.Do(t, "GET", url, nil, append([]string{"If-None-Match", held.tag, "Accept-Encoding", held.encoding}, tt.auth...)...)
				if r.Status != 304 || len(r.Body) != 0 {
					t.Errorf("If-None-Match %s: status %d body %q, want 304 without a body", held.tag, r.Status, r.Body)
				}
				if got := r.Header.Get("ETag"); got == "" {
					t.Errorf("If-None-Match %s: 304 without an ETag", held.tag)
				}
			}
			stale := servertest.Do(t, "GET", url, nil, append([]string{"If-None-Match", `"not-this-one"`, "Accept-Encoding", "identity"}, tt.auth...)...)
			if stale.Status != 200 || stale.Header.Get("ETag") != etag {
				t.Errorf("other tag: status %d ETag %q, want 200 with %s", stale.Status, stale.Header.Get("ETag"), etag)
			}

			if tt.change == nil {
				return
			}
			tt.change(t)
			changed := servertest.Do(t, "GET", url, nil, append([]string{"If-None-Match", etag, "Accept-Encoding", "identity"}, tt.auth...)...)
			if changed.Status != 200 || changed.Header.Get("ETag") == etag || bytes.Equal(changed.Body, first.Body) {
				t.Errorf("after a change: status %d ETag %q, want 200 with a new body and ETag", changed.Status, changed.Header.Get("ETag"))
			}
		})
	}
}

func TestCompressionNegotiated(t *testing.T) {
	s := startStack(t)
	plain := servertest.Do(t, "GET", s.Base+"/v1/products?limit=20", nil, identity...)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity asked, got Content-Encoding %q", plain.Header.Get("Content-Encoding"))
	}
	decoders := map[string]func([]byte) ([]byte, error){
		"gzip": func(b []byte) ([]byte, error) {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(zr)
		},
		"br": func(b []byte) ([]byte, error) { return fasthttp.AppendUnbrotliBytes(nil, b) },
	}
	tests := []struct{ accept, want string }{
		{"gzip", "gzip"},
		{"gzip, deflate, br", "br"},
		{"br;q=0, gzip", "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			r := servertest.Do(t, "GET", s.Base+"/v1/products?limit=20", nil, "Accept-Encoding", tt.accept)
			if got := r.Header.Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Content-Encoding = %q, want %q", got, tt.want)
			}
			if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary = %q, want Accept-Encoding", r.Header.Get("Vary"))
			}
			body, err := decoders[tt.want](r.Body)
			if err != nil {
				t.Fatalf("decode %s: %v", tt.want, err)
			}
			if !bytes.Equal(body, plain.Body) {
				t.Errorf("decoded body differs from the identity one")
			}
			t.Logf("%s: %d bytes encoded, %d identity", tt.want, len(r.Body), len(plain.Body))
		})
	}
}

// TestBurstOfReadsForColdProduct: a hundred phones opening the same product
// at once cost the product service one request.
func TestBurstOfReadsForColdProduct(t *testing.T) {
	// A stock TTL longer than any test run: the count must not depend on
	// how long the burst takes.
	s := startStack(t, "CACHE_STOCK_TTL", "1m")
	before := productRequests(t, s)
	const readers = 100
	var wg sync.WaitGroup
	statuses := make(chan int, readers)
	start := make(chan struct{})
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := servertest.Send("GET", s.Base+"/v1/products/9", nil)
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- r.Status
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Errorf("status %d, want 200", st)
		}
	}
	if got := productRequests(t, s) - before; got != 1 {
		t.Errorf("got %d upstream GET /products/{id}, want 1 for %d concurrent reads", got, readers)
	}
}

func productRequests(t *testing.T, s *stack) int {
	t.Helper()
	return s.State(t).Product.Requests["GET /products/{id}"]
}

// TestListIsAThirdOfWebBytes serves the same catalog page from both BFFs:
// the phone's must weigh at most a third of the browser's.
func TestListIsAThirdOfWebBytes(t *testing.T) {
	s := startStack(t)
	web := startWeb(t, s.Running)
	const path = "?limit=20"
	mobile := servertest.Do(t, "GET", s.Base+"/v1/products"+path, nil, identity...)
	// bff-web's answers go unchecked: servertest checks this BFF's contract
	// only on the servers it started.
	rich := servertest.Do(t, "GET", web+"/api/products"+path, nil, identity...)
	if mobile.Status != 200 || rich.Status != 200 {
		t.Fatalf("statuses %d and %d, want 200", mobile.Status, rich.Status)
	}
	var m productListView
	mobile.JSON(t, &m)
	var w struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	rich.JSON(t, &w)
	if len(m.Items) != 20 || len(w.Items) != len(m.Items) {
		t.Fatalf("got %d and %d items, want 20 of each", len(m.Items), len(w.Items))
	}
	for i := range m.Items {
		if m.Items[i].ID != w.Items[i].ID {
			t.Fatalf("item %d: ids %d and %d, want the same products", i, m.Items[i].ID, w.Items[i].ID)
		}
	}
	mz := servertest.Do(t, "GET", s.Base+"/v1/products"+path, nil, "Accept-Encoding", "gzip")
	wz := servertest.Do(t, "GET", web+"/api/products"+path, nil, "Accept-Encoding", "gzip")
	t.Logf("20 products: bff-mobile %d bytes (%d gzip), bff-web %d bytes (%d as sent, encoding %q), ratio %.3f",
		len(mobile.Body), len(mz.Body), len(rich.Body), len(wz.Body), wz.Header.Get("Content-Encoding"),
		float64(len(mobile.Body))/float64(len(rich.Body)))
	if 3*len(mobile.Body) > len(rich.Body) {
		t.Errorf("mobile page %d bytes, web page %d: want at most a third", len(mobile.Body), len(rich.Body))
	}
}

// startWeb builds bff-web and runs it against the same sandbox, for the
// comparisons only both BFFs together can make. It skips without a Go
// toolchain on PATH.
func startWeb(t *testing.T, rt *sandboxtest.Running) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build bff-web with")
	}
	bin := filepath.Join(t.TempDir(), "bff-web")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "bff-web")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bff-web: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	for k, v := range servertest.UpstreamEnv(rt) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "BFF_WEB_ADDR=127.0.0.1:0", "BFF_COOKIE_SECURE=false", "STATE_DIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				urlc <- line.URL
			}
		}
	}()
	select {
	case url := <-urlc:
		servertest.WaitReady(t, url)
		return url
	case <-time.After(20 * time.Second):
		t.Fatal("bff-web did not log a listening address within 20s")
		return ""
	}
}
