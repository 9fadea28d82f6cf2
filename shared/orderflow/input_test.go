package orderflow

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
)

func TestDecodeInputAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Input
	}{
		{
			name: "seed body",
			body: `{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`,
			want: Input{Items: []Item{{ProductID: 1, Quantity: 2}}, PaymentToken: "tok_visa"},
		},
		{
			name: "user_id ignored",
			body: `{"user_id":7,"items":[{"quantity":1,"product_id":3}],"payment_token":"tok_visa"}`,
			want: Input{Items: []Item{{ProductID: 3, Quantity: 1}}, PaymentToken: "tok_visa"},
		},
		{
			name: "string user_id and whitespace",
			body: " \n{ \"user_id\" : \"usr_grace\" ,\"payment_token\":\"tok_mastercard\", \"items\":[{\"product_id\":2,\"quantity\":99},{\"product_id\":1,\"quantity\":1}]}\n",
			want: Input{Items: []Item{{ProductID: 2, Quantity: 99}, {ProductID: 1, Quantity: 1}}, PaymentToken: "tok_mastercard"},
		},
		{
			name: "duplicate lines kept as sent",
			body: `{"items":[{"product_id":4,"quantity":50},{"product_id":4,"quantity":49}],"payment_token":"tok_visa"}`,
			want: Input{Items: []Item{{ProductID: 4, Quantity: 50}, {ProductID: 4, Quantity: 49}}, PaymentToken: "tok_visa"},
		},
		{
			name: "token of every printable character, at the length limit",
			body: `{"items":[{"product_id":1,"quantity":1}],"payment_token":"` + strings.Repeat("!", MaxTokenLength-2) + `~\""}`,
			want: Input{Items: []Item{{ProductID: 1, Quantity: 1}}, PaymentToken: strings.Repeat("!", MaxTokenLength-2) + `~"`},
		},
		{
			name: "escaped member name",
			body: `{"it\u0065ms":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}`,
			want: Input{Items: []Item{{ProductID: 1, Quantity: 1}}, PaymentToken: "tok_visa"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeInput([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeInput: got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeInput: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeInputRejects(t *testing.T) {
	line := `{"product_id":1,"quantity":1}`
	lines51 := "[" + strings.TrimSuffix(strings.Repeat(line+",", 51), ",") + "]"
	tests := []struct {
		name      string
		body      string
		wantCode  problem.Code
		wantField string
	}{
		{"empty", ``, problem.CodeMalformedJSON, ""},
		{"blank", " \n\t", problem.CodeMalformedJSON, ""},
		{"no-break space before", "\u00a0" + `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}`, problem.CodeMalformedJSON, ""},
		{"line separator after", `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}` + "\u2028", problem.CodeMalformedJSON, ""},
		{"form feed after", `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}` + "\f", problem.CodeMalformedJSON, ""},
		{"not json", `items=1`, problem.CodeMalformedJSON, ""},
		{"truncated", `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_vi`, problem.CodeMalformedJSON, ""},
		{"trailing object", `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"}{}`, problem.CodeMalformedJSON, ""},
		{"trailing garbage", `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa"} x`, problem.CodeMalformedJSON, ""},
		{"deep nesting", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), problem.CodeMalformedJSON, ""},
		{"array body", `[{"product_id":1,"quantity":1}]`, problem.CodeInvalid, ""},
		{"null body", `null`, problem.CodeInvalid, ""},
		{"unknown member", `{"items":[` + line + `],"payment_token":"tok_visa","total":1}`, problem.CodeInvalid, "total"},
		{"unknown item member", `{"items":[{"product_id":1,"quantity":1,"price":1}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].price"},
		// Its name is quoted at most problem.MaxEcho bytes long.
		{"long unknown member", `{"items":[` + line + `],"payment_token":"tok_visa","` + strings.Repeat("A", 10000) + `":1}`,
			problem.CodeInvalid, strings.Repeat("A", problem.MaxEcho) + "…"},
		{"long repeated member", `{"` + strings.Repeat("A", 10000) + `":1,"` + strings.Repeat("A", 10000) + `":1}`,
			problem.CodeInvalid, strings.Repeat("A", problem.MaxEcho) + "…"},
		{"member case differs", `{"Items":[` + line + `],"payment_token":"tok_visa"}`, problem.CodeInvalid, "Items"},
		{"repeated member", `{"items":[` + line + `],"payment_token":"tok_visa","payment_token":"tok_declined"}`, problem.CodeInvalid, "payment_token"},
		{"repeated item member", `{"items":[` + line + `,{"product_id":2,"quantity":1,"quantity":5}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[1].quantity"},
		{"missing items", `{"payment_token":"tok_visa"}`, problem.CodeInvalid, "items"},
		{"null items", `{"items":null,"payment_token":"tok_visa"}`, problem.CodeInvalid, "items"},
		{"items object", `{"items":{"product_id":1},"payment_token":"tok_visa"}`, problem.CodeInvalid, "items"},
		{"no lines", `{"items":[],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items"},
		{"51 lines", `{"items":` + lines51 + `,"payment_token":"tok_visa"}`, problem.CodeInvalid, "items"},
		{"item not object", `{"items":[` + line + `,[1,2]],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[1]"},
		{"nested deeper", `{"items":[{"product_id":[1],"quantity":1}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].product_id"},
		{"quantity string", `{"items":[` + line + `,{"product_id":2,"quantity":"2"}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[1].quantity"},
		{"quantity float", `{"items":[{"product_id":2,"quantity":1.5}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity exponent", `{"items":[{"product_id":2,"quantity":1e1}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity null", `{"items":[{"product_id":2,"quantity":null}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity zero", `{"items":[{"product_id":2,"quantity":0}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity 100", `{"items":[{"product_id":2,"quantity":100}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity negative", `{"items":[{"product_id":2,"quantity":-1}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"quantity huge", `{"items":[{"product_id":2,"quantity":99999999999999999999}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"merged quantity 100", `{"items":[{"product_id":2,"quantity":60},{"product_id":3,"quantity":1},{"product_id":2,"quantity":40}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[2].quantity"},
		{"missing quantity", `{"items":[{"product_id":2}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].quantity"},
		{"missing product", `{"items":[{"quantity":2}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].product_id"},
		{"product zero", `{"items":[{"product_id":0,"quantity":2}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].product_id"},
		{"product negative", `{"items":[{"product_id":-4,"quantity":2}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].product_id"},
		{"product overflow", `{"items":[{"product_id":9223372036854775808,"quantity":2}],"payment_token":"tok_visa"}`, problem.CodeInvalid, "items[0].product_id"},
		{"missing token", `{"items":[` + line + `]}`, problem.CodeInvalid, "payment_token"},
		{"empty token", `{"items":[` + line + `],"payment_token":""}`, problem.CodeInvalid, "payment_token"},
		{"token number", `{"items":[` + line + `],"payment_token":4242}`, problem.CodeInvalid, "payment_token"},
		{"token with NUL", `{"items":[` + line + `],"payment_token":"tok\u0000visa"}`, problem.CodeInvalid, "payment_token"},
		{"token a lone surrogate", `{"items":[` + line + `],"payment_token":"\ud800"}`, problem.CodeInvalid, "payment_token"},
		{"token with a space", `{"items":[` + line + `],"payment_token":"tok visa"}`, problem.CodeInvalid, "payment_token"},
		{"token with DEL", `{"items":[` + line + `],"payment_token":"tok\u007f"}`, problem.CodeInvalid, "payment_token"},
		{"token not ASCII", `{"items":[` + line + `],"payment_token":"tok_visá"}`, problem.CodeInvalid, "payment_token"},
		{"token too long", `{"items":[` + line + `],"payment_token":"` + strings.Repeat("t", MaxTokenLength+1) + `"}`, problem.CodeInvalid, "payment_token"},
		{"user_id object", `{"user_id":{"id":1},"items":[` + line + `],"payment_token":"tok_visa"}`, problem.CodeInvalid, "user_id"},
		{"invalid utf-8 in token", "{\"items\":[" + line + "],\"payment_token\":\"\xff\"}", problem.CodeMalformedJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeInput([]byte(tt.body))
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("DecodeInput: got (%+v, %v), want a *problem.Error", got, err)
			}
			if pe.Code != tt.wantCode || pe.Field != tt.wantField {
				t.Errorf("DecodeInput: got code %q field %q (%v), want code %q field %q", pe.Code, pe.Field, pe, tt.wantCode, tt.wantField)
			}
		})
	}
}

func TestNormalizeMergesAndSorts(t *testing.T) {
	in := Input{
		Items:        []Item{{ProductID: 9, Quantity: 1}, {ProductID: 2, Quantity: 3}, {ProductID: 9, Quantity: 4}, {ProductID: 5, Quantity: 99}},
		PaymentToken: "tok_visa",
	}
	got, err := normalize(in)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	want := []line{{ProductID: 2, Quantity: 3, first: 1}, {ProductID: 5, Quantity: 99, first: 3}, {ProductID: 9, Quantity: 5, first: 0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalize: got %+v, want %+v", got, want)
	}
}

func FuzzDecodeInput(f *testing.F) {
	for _, seed := range []string{
		`{"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"}`,
		`{"user_id":"usr_ada","items":[{"product_id":1,"quantity":2},{"product_id":1,"quantity":3}],"payment_token":"tok_visa"}`,
		`{"items":[{"product_id":1,"quantity":2,"quantity":3}],"payment_token":"tok_visa"}`,
		`{"items":[[[[]]]],"payment_token":{}}`,
		`{"items":[{"product_id":1e3,"quantity":-0}],"payment_token":"\u0000"}`,
		`[]`, `""`, `{}`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInput(body)
		if err != nil {
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("DecodeInput(%q): got error %T %v, want *problem.Error", body, err, err)
			}
			if pe.Code != problem.CodeInvalid && pe.Code != problem.CodeMalformedJSON {
				t.Fatalf("DecodeInput(%q): got code %q, want %q or %q", body, pe.Code, problem.CodeInvalid, problem.CodeMalformedJSON)
			}
			return
		}
		lines, err := normalize(in)
		if err != nil {
			t.Fatalf("DecodeInput(%q) returned %+v that normalize refuses: %v", body, in, err)
		}
		total := 0
		for _, l := range lines {
			total += l.Quantity
		}
		if n := len(lines); n < 1 || n > MaxLines || total < n || total > n*MaxQuantity {
			t.Fatalf("DecodeInput(%q): got %d lines of %d units, outside the limits", body, n, total)
		}
	})
}

// FuzzPaymentToken sends arbitrary strings as payment_token: DecodeInput
// accepts exactly the tokens of 1 to MaxTokenLength characters between 0x21
// and 0x7E, and refuses every other with a 400 naming payment_token.
func FuzzPaymentToken(f *testing.F) {
	for _, seed := range []string{"tok_visa", "", "tok\x00", "\xed\xa0\x80", "tok visa", strings.Repeat("t", MaxTokenLength+1), "\"\\"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		lit, err := json.Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		in, err := DecodeInput([]byte(`{"items":[{"product_id":1,"quantity":1}],"payment_token":` + string(lit) + `}`))
		want := len(tok) >= 1 && len(tok) <= MaxTokenLength && strings.IndexFunc(tok, func(r rune) bool { return r < '!' || r > '~' }) < 0
		if want {
			if err != nil || in.PaymentToken != tok {
				t.Fatalf("token %q: got %q, %v; want it accepted as it is", tok, in.PaymentToken, err)
			}
			return
		}
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Code != problem.CodeInvalid || pe.Field != "payment_token" {
			t.Fatalf("token %q: got %q, %v; want a 400 naming payment_token", tok, in.PaymentToken, err)
		}
	})
}

// TestDecodeInputWordsLikeDecodeStrict: the order body's unknown and
// repeated members are answered as every other body's are
// (jsonscan.DecodeStrict): the same code, field and detail.
func TestDecodeInputWordsLikeDecodeStrict(t *testing.T) {
	var other struct {
		Items []struct {
			ProductID int64 `json:"product_id"`
		} `json:"items"`
	}
	for _, tc := range []struct{ order, other string }{
		{`{"items":[],"payment_token":"t","x":1}`, `{"items":[],"x":1}`},
		{`{"items":[{"product_id":1,"quantity":1,"x":1}],"payment_token":"t"}`, `{"items":[{"product_id":1,"x":1}]}`},
		{`{"items":[{"product_id":1,"product_id":2,"quantity":1}],"payment_token":"t"}`, `{"items":[{"product_id":1,"product_id":2}]}`},
	} {
		_, err := DecodeInput([]byte(tc.order))
		got, want := problem.From(err), problem.From(jsonscan.DecodeStrict([]byte(tc.other), &other))
		if got.Code != want.Code || got.Field != want.Field || got.Detail != want.Detail {
			t.Errorf("%s: got %s %q %q, want %s %q %q as %s gets", tc.order, got.Code, got.Field, got.Detail, want.Code, want.Field, want.Detail, tc.other)
		}
	}
}

// TestDecodeInputReportsTheFirstMistake: a body with several mistakes is
// answered with the first it makes, in the order it names its members, at
// the top and within a line, as DecodeStrict answers other bodies.
func TestDecodeInputReportsTheFirstMistake(t *testing.T) {
	for _, tc := range []struct{ body, field string }{
		{`{"payment_token":5,"items":"x"}`, "payment_token"},
		{`{"items":"x","payment_token":5}`, "items"},
		{`{"zz":1,"items":[]}`, "zz"},
		{`{"items":[{"quantity":0,"product_id":"x"}],"payment_token":"t"}`, "items[0].quantity"},
		{`{"items":[{"product_id":"x","quantity":0}],"payment_token":"t"}`, "items[0].product_id"},
		{`{"items":[{"b":1,"a":1}],"payment_token":"t"}`, "items[0].b"},
		{"{\"p\\u0061yment_token\" : 5 ,\n \"items\":\"x\"}", "payment_token"},
	} {
		_, err := DecodeInput([]byte(tc.body))
		if got := problem.From(err); got.Code != problem.CodeInvalid || got.Field != tc.field {
			t.Errorf("%s: got %s naming %q, want %s naming %q", tc.body, got.Code, got.Field, problem.CodeInvalid, tc.field)
		}
	}
}

// FuzzMembersOf: membersOf reads every member of an object a map decode
// reads, with the same value, and no other.
func FuzzMembersOf(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1,"b":[{"c":{}}],"\u0041":"x"}`, ` { "a" : null , "b":"\"}" } `, `{"a":1}x`, `[1]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		var want map[string]json.RawMessage
		if json.Unmarshal(obj, &want) != nil || want == nil {
			return
		}
		if dup, err := jsonscan.Scan(obj, maxScanDepth); dup != nil || err != nil {
			return
		}
		got, err := membersOf(obj)
		if err != nil {
			t.Fatalf("membersOf(%q): %v, where a map decode reads %d members", obj, err, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("membersOf(%q): got %d members, want %d", obj, len(got), len(want))
		}
		for _, m := range got {
			if w, ok := want[m.name]; !ok || !bytes.Equal(bytes.TrimSpace(m.raw), bytes.TrimSpace(w)) {
				t.Fatalf("membersOf(%q): member %q = %s, want %s", obj, m.name, m.raw, w)
			}
		}
	})
}
