package orderflow

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"storefront.dev/shared/problem"
)

// TestParseRequest: the key policy, the key's syntax and the body each get
// their 400 problem; what is accepted is owned by the Request.
func TestParseRequest(t *testing.T) {
	const body = `{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`
	input := Input{Items: []Item{{ProductID: 1, Quantity: 2}}, PaymentToken: "tok_visa"}
	tests := []struct {
		name     string
		received Received
		keys     KeyPolicy
		want     Request
		wantCode problem.Code
	}{
		{"bare key", Received{UserID: "u1", IdempotencyKeys: []string{"k-1"}, Body: []byte(body)}, KeyRequired, Request{UserID: "u1", Key: "k-1", Input: input}, ""},
		{"quoted key", Received{UserID: "u1", IdempotencyKeys: []string{` "k-1" `}, Body: []byte(body)}, KeyOptional, Request{UserID: "u1", Key: "k-1", Input: input}, ""},
		{"no key where optional", Received{UserID: "u1", Body: []byte(body)}, KeyOptional, Request{UserID: "u1", Input: input}, ""},
		{"no key where required", Received{UserID: "u1", Body: []byte(body)}, KeyRequired, Request{}, problem.CodeIdempotencyMissing},
		{"empty line where required", Received{UserID: "u1", IdempotencyKeys: []string{""}, Body: []byte(body)}, KeyRequired, Request{}, problem.CodeIdempotencyMissing},
		{"two lines", Received{UserID: "u1", IdempotencyKeys: []string{"k-1", "k-2"}, Body: []byte(body)}, KeyOptional, Request{}, problem.CodeIdempotencyInvalid},
		{"one key twice", Received{UserID: "u1", IdempotencyKeys: []string{"k-1", "k-1"}, Body: []byte(body)}, KeyRequired, Request{}, problem.CodeIdempotencyInvalid},
		{"a list in one line", Received{UserID: "u1", IdempotencyKeys: []string{`"k-1", "k-2"`}, Body: []byte(body)}, KeyRequired, Request{}, problem.CodeIdempotencyInvalid},
		{"malformed key", Received{UserID: "u1", IdempotencyKeys: []string{`"k-1`}, Body: []byte(body)}, KeyOptional, Request{}, problem.CodeIdempotencyInvalid},
		{"bad body", Received{UserID: "u1", IdempotencyKeys: []string{"k-1"}, Body: []byte(`{"items":[]}`)}, KeyRequired, Request{}, problem.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.received, tt.keys)
			var p *problem.Error
			errors.As(err, &p)
			var code problem.Code
			if p != nil {
				code = p.Code
			}
			if code != tt.wantCode || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v, code %q", got, err, tt.want, tt.wantCode)
			}
		})
	}
}

// TestParseRequestOwnsItsStrings: the edge reuses its buffers once the
// handler returns; the Request must not change with them.
func TestParseRequestOwnsItsStrings(t *testing.T) {
	body := []byte(`{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`)
	header := []byte("key-123")
	// What fasthttp hands a handler: a string over its own buffer.
	key := unsafe.String(&header[0], len(header))
	r, err := ParseRequest(Received{UserID: "u1", IdempotencyKeys: []string{key}, Body: body}, KeyRequired)
	if err != nil {
		t.Fatal(err)
	}
	copy(body, make([]byte, len(body)))
	copy(header, "XXXXXXX")
	if r.Key != "key-123" || r.Input.PaymentToken != "tok_visa" {
		t.Errorf("got key %q, token %q after the buffers were reused", r.Key, r.Input.PaymentToken)
	}
}
