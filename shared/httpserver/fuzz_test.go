package httpserver_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
)

// wantClientProblem fails unless err is a *problem.Error with a 4xx status:
// hostile input may be refused, never answered with a 5xx.
func wantClientProblem(t *testing.T, err error) *problem.Error {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("got error %v, want a *problem.Error", err)
	}
	if s := p.Status(); s < 400 || s > 499 {
		t.Fatalf("got status %d (%v), want a 4xx", s, err)
	}
	return p
}

// FuzzPageOf feeds the cursor and limit decoder arbitrary query values: it
// never panics, refuses with a 400 naming the parameter, and what it
// accepts is a cursor of URL-safe base64 characters within the bound and a
// limit within 1..MaxLimit.
func FuzzPageOf(f *testing.F) {
	f.Add("", "")
	f.Add("YzEAAG5leHQ", "20")
	f.Add(strings.Repeat("A", 300), "50")
	f.Add("abc\"';--", "-1")
	f.Add("Zm9v==", "+7")
	f.Fuzz(func(t *testing.T, cursor, limit string) {
		p, err := httpserver.PageOf(cursor, limit)
		if err != nil {
			pe := wantClientProblem(t, err)
			if pe.Field != "cursor" && pe.Field != "limit" {
				t.Fatalf("got field %q, want cursor or limit", pe.Field)
			}
			return
		}
		if p.Limit < 1 || p.Limit > httpserver.MaxLimit {
			t.Fatalf("accepted limit %d", p.Limit)
		}
		if p.Cursor != cursor || len(p.Cursor) > httpserver.MaxCursorLength {
			t.Fatalf("accepted cursor %q from %q", p.Cursor, cursor)
		}
		if i := strings.IndexFunc(p.Cursor, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=')
		}); i >= 0 {
			t.Fatalf("accepted cursor %q with %q", p.Cursor, p.Cursor[i])
		}
	})
}

// FuzzParseID feeds the path id parser arbitrary strings: what it accepts
// is 1 to 19 ASCII digits without a leading zero, which it reads as the
// positive number they spell, and every positive int64 written in decimal
// is accepted.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "01", "+1", "-1", "0", "1e3", "9223372036854775807", "9223372036854775808", "99999999999999999999", " 1", "1_000", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			// However s spells its number, the canonical spelling is read.
			if again, ok := httpserver.ParseID(strconv.FormatInt(n, 10)); !ok || again != n {
				t.Fatalf("ParseID(%d in decimal) = %d, %v; want it back", n, again, ok)
			}
		}
		id, ok := httpserver.ParseID(s)
		if !ok {
			if id != 0 {
				t.Fatalf("ParseID(%q) = %d, false; want 0 with false", s, id)
			}
			return
		}
		if len(s) < 1 || len(s) > 19 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
			t.Fatalf("ParseID(%q) = %d: accepted a non-canonical spelling", s, id)
		}
		if id < 1 || strconv.FormatInt(id, 10) != s {
			t.Fatalf("ParseID(%q) = %d, want the number the digits spell", s, id)
		}
	})
}
