package jsonscan_test

import (
	"errors"
	"strings"
	"testing"

	"storefront.dev/shared/jsonscan"
)

func TestScan(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		depth    int
		wantPath string
		wantName string
		wantErr  error
	}{
		{name: "plain", body: `{"a":1,"b":[1,2,{"c":3}]}`, depth: 8},
		{name: "repeated at the top", body: `{"a":1,"a":2}`, depth: 8, wantPath: "a", wantName: "a"},
		{name: "repeated in an array element", body: `{"items":[{"id":1},{"id":2,"id":3}]}`, depth: 8, wantPath: "items[1].id", wantName: "id"},
		{name: "same name in sibling objects", body: `{"items":[{"id":1},{"id":2}]}`, depth: 8},
		{name: "escaped names are decoded", body: `{"a":1,"\u0061":2}`, depth: 8, wantPath: "a", wantName: "a"},
		{name: "first repeat wins", body: `{"x":{"k":1,"k":2},"y":1,"y":2}`, depth: 8, wantPath: "x.k", wantName: "k"},
		{name: "braces inside strings", body: `{"a":"{[{[","b":"]}"}`, depth: 1},
		{name: "at the depth limit", body: `[[[]]]`, depth: 3},
		{name: "over the depth limit", body: `[[[[]]]]`, depth: 3, wantErr: jsonscan.ErrTooDeep},
		{name: "deep attack", body: strings.Repeat("[", 100000), depth: 32, wantErr: jsonscan.ErrTooDeep},
		{name: "unterminated string", body: `{"a":"oops}`, depth: 8, wantErr: jsonscan.ErrSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dup, err := jsonscan.Scan([]byte(tc.body), tc.depth)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var path, name string
			if dup != nil {
				path, name = dup.Path, dup.Name
			}
			if path != tc.wantPath || name != tc.wantName {
				t.Errorf("repeated = %q %q, want %q %q", path, name, tc.wantPath, tc.wantName)
			}
		})
	}
}

// FuzzScan: any body gets an answer, never a panic, and a repeated member's
// name ends its path.
func FuzzScan(f *testing.F) {
	for _, seed := range []string{`{"a":1,"a":2}`, `{"items":[{"id":1,"id":2}]}`, `[[[[`, `{"a":"\"}`, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dup, err := jsonscan.Scan(body, 16)
		if err == nil && dup != nil && !strings.HasSuffix(dup.Path, dup.Name) {
			t.Errorf("repeated %+v: path does not end with the name", dup)
		}
	})
}
