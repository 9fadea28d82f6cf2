package idempotency_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"storefront.dev/shared/idempotency"
)

func TestFingerprintSame(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"member order", `{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`,
			`{"payment_token":"tok_visa","items":[{"quantity":2,"product_id":1}]}`},
		{"whitespace", `{"a":[1,2,{"b":null}]}`, " {\n\t\"a\" : [ 1 , 2 , { \"b\" : null } ]\r\n} "},
		{"string escapes", `{"s":"A\u00e9/"}`, `{"s":"Aé\/"}`},
		{"literals", `[true,false,null]`, `[ true, false, null ]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := idempotency.Fingerprint([]byte(tt.a)), idempotency.Fingerprint([]byte(tt.b)); a != b {
				t.Errorf("got %s and %s, want the same fingerprint for %s and %s", a, b, tt.a, tt.b)
			}
		})
	}
}

func TestFingerprintDifferent(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"value", `{"quantity":1}`, `{"quantity":2}`},
		{"number as written", `{"quantity":1}`, `{"quantity":1.0}`},
		{"exponent as written", `{"n":100}`, `{"n":1e2}`},
		{"array order", `[1,2]`, `[2,1]`},
		{"string case", `{"t":"tok_visa"}`, `{"t":"TOK_VISA"}`},
		{"string not number", `{"n":"1"}`, `{"n":1}`},
		{"nesting", `{"a":{"b":1}}`, `{"a":{"b":[1]}}`},
		{"not JSON, whitespace matters", `not json`, `not  json`},
		{"trailing data is not JSON", `{"a":1}`, `{"a":1} x`},
		{"empty and null", ``, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := idempotency.Fingerprint([]byte(tt.a)), idempotency.Fingerprint([]byte(tt.b)); a == b {
				t.Errorf("got %s for both %q and %q, want different fingerprints", a, tt.a, tt.b)
			}
		})
	}
}

func TestFingerprintValues(t *testing.T) {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	tests := []struct {
		body string
		want string
	}{
		{` { "b" : 2.50 , "a" : [ "x" ] } `, hash(`{"a":["x"],"b":2.50}`)},
		{`<xml/>`, hash(`<xml/>`)},
		{``, hash(``)},
	}
	for _, tt := range tests {
		if got := idempotency.Fingerprint([]byte(tt.body)); got != tt.want {
			t.Errorf("Fingerprint(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}
