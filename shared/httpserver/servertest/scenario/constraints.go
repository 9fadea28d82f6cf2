package scenario

import (
	"net/http"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/contract"
	"storefront.dev/shared/problem"
)

// documentedConstraintsHold sends, for every operation of the BFF's
// document without a path parameter, its example with one documented
// constraint broken at a time (a 400 or 422 problem+json must answer) and
// with one value at each documented bound (no 400, 422 or 5xx may answer):
// a client generated from the document, or a fuzzer reading it, finds no
// valid request refused and no invalid one accepted.
func documentedConstraintsHold(t *testing.T, sh Shop) {
	cases, err := contract.Cases(sh.Document)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("the document yields no case")
	}
	s, ada := sh.ada(t)
	sent := 0
	for _, c := range cases {
		// A path parameter needs a resource of the test's; a cursor is
		// valid only as a list handed it out, whatever its length.
		if strings.Contains(c.Path, "{") || c.Valid && c.Param == "cursor" {
			continue
		}
		url := s.Base + c.Path
		if c.Query != "" {
			url += "?" + c.Query
		}
		sent++
		r := servertest.Do(t, c.Method, url, c.Body, ada()...)
		refused := r.Status == http.StatusBadRequest || r.Status == http.StatusUnprocessableEntity
		switch {
		case !c.Valid && (!refused || r.Header.Get("Content-Type") != problem.ContentType):
			t.Errorf("%s %s, %s: %d %s, want a 400 or 422 problem", c.Method, c.Path, c.Name, r.Status, r.Body)
		case c.Valid && (refused || r.Status >= 500):
			t.Errorf("%s %s, %s: %d %s, want it taken", c.Method, c.Path, c.Name, r.Status, r.Body)
		}
	}
	t.Logf("%d requests, each breaking or reaching one documented constraint", sent)
}
