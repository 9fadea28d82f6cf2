package upstream_test

import (
	"context"
	"net/http"
	"testing"

	"storefront.dev/shared/upstream"
)

// partial is an answer whose decoding fails at its second member, after
// the first has been decoded.
type partial struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
	Owner string `json:"owner"`
}

// TestSendReturnsNothingOfAFailedDecode: an answer that decodes part way
// is a failure, and the caller gets the zero value with it, not the fields
// read before the bad one; the typed calls built on Send do the same.
func TestSendReturnsNothingOfAFailedDecode(t *testing.T) {
	url := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"ord_1","owner":"usr_grace","count":"many"}`))
	})
	s := newService(t, []string{url})
	ctx := context.Background()
	calls := []struct {
		name string
		call func() (partial, error)
	}{
		{"Send", func() (partial, error) {
			return upstream.Send[partial](ctx, s, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"})
		}},
		{"Get", func() (partial, error) { return upstream.Get[partial](ctx, s, "get", "/x") }},
		{"Post", func() (partial, error) { return upstream.Post[partial](ctx, s, "create", "/x", map[string]int{"a": 1}) }},
		{"Transition", func() (partial, error) { return upstream.Transition[partial](ctx, s, "/x", "1", "confirm") }},
		{"Undo", func() (partial, error) { return upstream.Undo[partial](ctx, s, "/x", "1", "cancel") }},
		{"ByReference", func() (partial, error) { return upstream.ByReference[partial](ctx, s, "/x", "ref") }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if e := asError(t, err); e.Kind != upstream.KindUnknown {
				t.Errorf("got kind %s, want %s", e.Kind, upstream.KindUnknown)
			}
			if got != (partial{}) {
				t.Errorf("got %+v with the error, want the zero value", got)
			}
		})
	}
}
