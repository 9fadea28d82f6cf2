package problem

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
)

func TestDocumentFlattensExtensions(t *testing.T) {
	e := New(CodeOutOfStock, "Some items are not available.").
		With("unavailable", []map[string]int{{"product_id": 5, "requested": 4, "available": 3}}).
		With("status", 999) // an extension never overrides a standard member
	b, err := json.Marshal(e.Document("/v1/orders"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"https://storefront.dev/problems/out_of_stock","title":"Out of stock","status":409,` +
		`"detail":"Some items are not available.","instance":"/v1/orders","code":"out_of_stock",` +
		`"unavailable":[{"available":3,"product_id":5,"requested":4}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestStatusOfEveryCode(t *testing.T) {
	for code := range statuses {
		if _, ok := titles[code]; !ok {
			t.Errorf("code %s has a status but no title", code)
		}
	}
	for code := range titles {
		if _, ok := statuses[code]; !ok {
			t.Errorf("code %s has a title but no status", code)
		}
	}
	if got := StatusOf("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("unknown code status = %d, want 500", got)
	}
}

func TestFromKeepsCauseOutOfTheDocument(t *testing.T) {
	cause := errors.New("upstream said: secret internals")
	p := From(fmt.Errorf("place order: %w", cause))
	if p.Code != CodeInternal || !errors.Is(p, cause) {
		t.Fatalf("From = %+v, want an internal error wrapping the cause", p)
	}
	b, err := json.Marshal(p.Document("/x"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret internals") {
		t.Errorf("document %s leaks the cause", b)
	}
	wrapped := Invalid("items[0].quantity", "quantity must be 1..99")
	if got := From(fmt.Errorf("decode: %w", wrapped)); got != wrapped {
		t.Errorf("From of a wrapped *Error = %v, want the same *Error", got)
	}
}

func TestClip(t *testing.T) {
	long := "a" + strings.Repeat("é", 40) // é is two bytes: byte 64 is inside one
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("x", MaxEcho), strings.Repeat("x", MaxEcho)},
		{strings.Repeat("x", MaxEcho+1), strings.Repeat("x", MaxEcho) + "…"},
		{long, long[:MaxEcho-1] + "…"},
	} {
		if got := Clip(c.in); got != c.want {
			t.Errorf("Clip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
