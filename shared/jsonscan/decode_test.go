package jsonscan_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
)

// order is a body with a nested struct in an array, a free-form map, a
// type that decodes itself and an embedded struct.
type order struct {
	Token string `json:"payment_token"`
	Lines []struct {
		ProductID int64 `json:"product_id"`
	} `json:"lines"`
	Labels map[string]struct {
		Text string `json:"text"`
	} `json:"labels"`
	At time.Time `json:"at"`
	audit
}

type audit struct {
	Note string `json:"note"`
}

// TestDecodeStrictTakesOnlyExactNames: a member must be spelled exactly as
// the field's JSON name, at every level that decodes into a struct; one
// that differs only in case is an unknown member, whether alone or beside
// the exact one, with the detail the decoder gives any unknown member.
func TestDecodeStrictTakesOnlyExactNames(t *testing.T) {
	cases := []struct {
		name       string
		body       string
		wantDetail string // "" for no error
	}{
		{name: "exact names", body: `{"payment_token":"a","lines":[{"product_id":1}],"labels":{"Any Key":{"text":"x"}},"at":"2024-01-01T00:00:00Z","note":"n"}`},
		{name: "case variant alone", body: `{"PAYMENT_TOKEN":"b"}`, wantDetail: `The body has an unknown field "PAYMENT_TOKEN".`},
		{name: "case variant after the exact name", body: `{"payment_token":"a","PAYMENT_TOKEN":"b"}`, wantDetail: `The body has an unknown field "PAYMENT_TOKEN".`},
		{name: "case variant before the exact name", body: `{"Payment_Token":"b","payment_token":"a"}`, wantDetail: `The body has an unknown field "Payment_Token".`},
		{name: "escaped case variant", body: `{"\u0050ayment_token":"b"}`, wantDetail: `The body has an unknown field "Payment_token".`},
		{name: "Kelvin sign for k", body: `{"lines":[],"payment_to\u212aen":"b"}`, wantDetail: "The body has an unknown field \"payment_to\u212aen\"."},
		{name: "case variant in an array element", body: `{"lines":[{"product_id":1},{"Product_ID":2}]}`, wantDetail: `The body has an unknown field "Product_ID".`},
		{name: "case variant in a map value", body: `{"labels":{"k":{"TEXT":"x"}}}`, wantDetail: `The body has an unknown field "TEXT".`},
		{name: "case variant of a promoted field", body: `{"NOTE":"n"}`, wantDetail: `The body has an unknown field "NOTE".`},
		{name: "Go name of a tagged field", body: `{"Token":"a"}`, wantDetail: `The body has an unknown field "Token".`},
		{name: "unknown member", body: `{"x":1}`, wantDetail: `The body has an unknown field "x".`},
		{name: "exact repeat", body: `{"payment_token":"a","payment_token":"b"}`, wantDetail: `The member "payment_token" appears more than once.`},
		// The answer quotes at most problem.MaxEcho bytes of a name.
		{name: "a long unknown member", body: `{"` + strings.Repeat("A", 10000) + `":1}`,
			wantDetail: `The body has an unknown field "` + strings.Repeat("A", problem.MaxEcho) + `…".`},
		{name: "a long repeat", body: `{"` + strings.Repeat("é", 100) + `":1,"` + strings.Repeat("é", 100) + `":2}`,
			wantDetail: `The member "` + strings.Repeat("é", problem.MaxEcho/2) + `…" appears more than once.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o order
			err := jsonscan.DecodeStrict([]byte(tc.body), &o)
			if tc.wantDetail == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a problem", err)
			}
			if pe.Code != problem.CodeInvalid || pe.Detail != tc.wantDetail {
				t.Errorf("got %s %q, want %s %q", pe.Code, pe.Detail, problem.CodeInvalid, tc.wantDetail)
			}
		})
	}
}

// TestDecodeStrictLeavesFreeFormValuesAlone: the members of a value that
// is not decoded into a struct (any, a map) are not checked.
func TestDecodeStrictLeavesFreeFormValuesAlone(t *testing.T) {
	var m map[string]any
	if err := jsonscan.DecodeStrict([]byte(`{"A":{"B":1},"a":{"b":2}}`), &m); err != nil {
		t.Errorf("map: got %v, want no error", err)
	}
	var v struct {
		Data any `json:"data"`
	}
	if err := jsonscan.DecodeStrict([]byte(`{"data":{"Email":1,"email":2}}`), &v); err != nil {
		t.Errorf("any: got %v, want no error", err)
	}
}

// TestDecodeStrictNamesTheUnknownMember: an unknown member is named in
// field by its path, as a repeated one is, at any depth.
func TestDecodeStrictNamesTheUnknownMember(t *testing.T) {
	for body, want := range map[string]string{
		`{"x":1}`: "x",
		`{"lines":[{"product_id":1},{"Product_ID":2}]}`: "lines[1].Product_ID",
	} {
		var o order
		if p := problem.From(jsonscan.DecodeStrict([]byte(body), &o)); p.Field != want {
			t.Errorf("%s: got field %q (%v), want %q", body, p.Field, p, want)
		}
	}
}

// TestDecodeStrictCodes: a body that is not one JSON value is
// malformed_json, whatever members or types it holds before it breaks;
// one that is, but breaks the schema, is invalid_request.
func TestDecodeStrictCodes(t *testing.T) {
	cases := []struct {
		body       string
		wantCode   problem.Code
		wantDetail string
	}{
		{`{"zzz":`, problem.CodeMalformedJSON, "The request body is not valid JSON."},
		{`000`, problem.CodeMalformedJSON, "The request body has data after the JSON object."},
		{`01`, problem.CodeMalformedJSON, "The request body has data after the JSON object."},
		{`[]]`, problem.CodeMalformedJSON, "The request body has data after the JSON object."},
		{`{"note" "x"}`, problem.CodeMalformedJSON, "The request body is not valid JSON."},
		{`{"payment_token":"a","payment_token":"b"} x`, problem.CodeMalformedJSON, "The request body has data after the JSON object."},
		{`{"payment_token":"a"} {"zzz":1}`, problem.CodeMalformedJSON, "The request body has data after the JSON object."},
		{`null`, problem.CodeInvalid, "The request body must be a JSON object."},
		{` [] `, problem.CodeInvalid, "The request body must be a JSON object."},
		{`{"zzz":1}`, problem.CodeInvalid, `The body has an unknown field "zzz".`},
		{`{"payment_token":1}`, problem.CodeInvalid, `Wrong type for "payment_token": expected a string.`},
	}
	for _, tc := range cases {
		var o order
		var pe *problem.Error
		if err := jsonscan.DecodeStrict([]byte(tc.body), &o); !errors.As(err, &pe) || pe.Code != tc.wantCode || pe.Detail != tc.wantDetail {
			t.Errorf("%s: got %v, want %s %q", tc.body, err, tc.wantCode, tc.wantDetail)
		}
	}
}

// FuzzDecodeStrict: whatever the body, DecodeStrict answers a problem of
// the client's, and malformed_json exactly when the body is not one JSON
// value nested within MaxDecodeDepth.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{`{"payment_token":"a"}`, `{"zzz":`, `000`, `null`, `{"lines":[{"product_id":1}]}`, `{"a":1} x`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var o order
		err := jsonscan.DecodeStrict(body, &o)
		if err == nil {
			return
		}
		var pe *problem.Error
		if !errors.As(err, &pe) || (pe.Code != problem.CodeMalformedJSON && pe.Code != problem.CodeInvalid) {
			t.Fatalf("%q: got %v, want a malformed_json or invalid_request problem", body, err)
		}
		if !json.Valid(body) && pe.Code != problem.CodeMalformedJSON {
			t.Errorf("%q is not JSON: got %s %q, want malformed_json", body, pe.Code, pe.Detail)
		}
	})
}
