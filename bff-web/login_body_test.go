package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestLoginTakesOnlyExactMemberNames: a login body whose members differ
// from email and password only in case is refused as malformed, before any
// credential is tried: "Email" is not email, and an "EMAIL" beside email
// does not replace it.
func TestLoginTakesOnlyExactMemberNames(t *testing.T) {
	s := startStack(t)
	ada, grace := sandbox.Ada, sandbox.Grace
	bodies := []struct {
		name string
		body string
	}{
		{"capitalised email", `{"Email":"` + ada.Email + `","password":"` + ada.Password + `"}`},
		{"upper-case email beside email", `{"email":"` + ada.Email + `","EMAIL":"` + grace.Email + `","password":"` + grace.Password + `"}`},
		{"upper-case password beside password", `{"email":"` + ada.Email + `","password":"wrong","PASSWORD":"` + ada.Password + `"}`},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "POST", s.Base+"/api/session", tt.body)
			if r.Status != 400 {
				t.Fatalf("status %d, body %s; want 400", r.Status, r.Body)
			}
			if p := r.Problem(t); p["code"] != "invalid_request" {
				t.Errorf("problem %v, want code invalid_request", p)
			}
			if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
				t.Errorf("got cookies %v, want no session", cookies)
			}
		})
	}
}
