package cursor_test

import (
	"errors"
	"strings"
	"testing"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/problem"
)

// seal is s.SealNext of a cursor it must take.
func seal(t *testing.T, s *cursor.Signer, listing, next string) string {
	t.Helper()
	c, err := s.SealNext(listing, next)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealAndOpen(t *testing.T) {
	s, err := cursor.New(cursor.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := cursor.New(cursor.NewKey())
	c := seal(t, s, cursor.Orders("usr_ada"), "upstream-next")
	if got, err := s.Open(cursor.Orders("usr_ada"), c); err != nil || got != "upstream-next" {
		t.Fatalf("Open(Seal) = %q, %v", got, err)
	}
	if got, err := s.Open(cursor.Orders("usr_ada"), ""); err != nil || got != "" {
		t.Errorf("the first page's empty cursor: %q, %v", got, err)
	}
	if seal(t, s, cursor.Orders("usr_ada"), "") != "" {
		t.Error("the last page's cursor is not empty")
	}
	flip := []byte(c)
	flip[len(c)/2] ^= 1
	for name, bad := range map[string]struct {
		s       *cursor.Signer
		listing string
		cursor  string
	}{
		"another user's listing": {s, cursor.Orders("usr_grace"), c},
		"another key":            {other, cursor.Orders("usr_ada"), c},
		"a bit flipped":          {s, cursor.Orders("usr_ada"), string(flip)},
		"no mac":                 {s, cursor.Orders("usr_ada"), "c2" + c[2+22:]},
		"only the version":       {s, cursor.Orders("usr_ada"), "c2"},
		"plain base64":           {s, cursor.Orders("usr_ada"), "cDE6NA"},
		"the upstream's own":     {s, cursor.Orders("usr_ada"), "upstream-next"},
	} {
		_, err := bad.s.Open(bad.listing, bad.cursor)
		if p := problem.From(err); err == nil || p.Code != problem.CodeInvalid || p.Field != "cursor" {
			t.Errorf("%s: %v, want a 400 naming the cursor", name, err)
		}
	}
	if _, err := cursor.New(make([]byte, 8)); err == nil {
		t.Error("a short key was accepted")
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := cursor.New(make([]byte, cursor.KeyBytes))
	first, _ := s.SealNext(cursor.Products(""), "p1:4")
	f.Add(first)
	f.Add("c2")
	f.Add("c2YQ7xbxIeCj5IK6-QzTVzsXcDE6NA") // a MAC spelt with non-zero unused bits
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		next, err := s.Open(cursor.Products(""), c)
		if again, _ := s.SealNext(cursor.Products(""), next); err == nil && c != "" && again != c {
			t.Errorf("Open(%q) = %q, which does not seal back to it", c, next)
		}
	})
}

// TestLongestCursor: the cursor of the longest upstream cursor a Signer
// seals is MaxLength long and opens; a longer upstream cursor is refused
// rather than sealed into one the BFF would not take back.
func TestLongestCursor(t *testing.T) {
	s, _ := cursor.New(cursor.NewKey())
	listing := cursor.Orders("usr_ada")
	for _, n := range []int{1, 2, 3, 174, 175, cursor.MaxUpstreamLength - 1, cursor.MaxUpstreamLength} {
		next := strings.Repeat("x", n)
		c, err := s.SealNext(listing, next)
		if err != nil {
			t.Fatalf("SealNext of %d bytes: %v", n, err)
		}
		if len(c) > cursor.MaxLength {
			t.Errorf("the cursor of %d bytes is %d long, over MaxLength %d", n, len(c), cursor.MaxLength)
		}
		if n == cursor.MaxUpstreamLength && len(c) != cursor.MaxLength {
			t.Errorf("the longest cursor is %d long, want MaxLength %d", len(c), cursor.MaxLength)
		}
		if got, err := s.Open(listing, c); err != nil || got != next {
			t.Errorf("Open of the cursor of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
	tooLong := strings.Repeat("x", cursor.MaxUpstreamLength+1)
	if c, err := s.SealNext(listing, tooLong); !errors.Is(err, cursor.ErrTooLong) || c != "" {
		t.Errorf("SealNext of %d bytes: %q, %v; want ErrTooLong", len(tooLong), c, err)
	}
}

// TestSetKey: a Signer given a new key seals with it, so that a Signer of
// that key opens its cursors, and still opens those it sealed before; the
// key before that no longer opens.
func TestSetKey(t *testing.T) {
	first, second, third := cursor.NewKey(), cursor.NewKey(), cursor.NewKey()
	s, _ := cursor.New(first)
	early, _ := s.SealNext("products:", "p2")
	if err := s.SetKey(second); err != nil {
		t.Fatal(err)
	}
	late, _ := s.SealNext("products:", "p3")
	peer, _ := cursor.New(second)
	if next, err := peer.Open("products:", late); err != nil || next != "p3" {
		t.Errorf("a peer of the new key opens the new cursor to %q, %v; want p3", next, err)
	}
	if next, err := s.Open("products:", early); err != nil || next != "p2" {
		t.Errorf("the cursor sealed before the new key opens to %q, %v; want p2", next, err)
	}
	if err := s.SetKey(third); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open("products:", early); err == nil {
		t.Error("a cursor of the key before the last still opens")
	}
	if err := s.SetKey(third[:cursor.KeyBytes-1]); err == nil {
		t.Error("a key shorter than KeyBytes was taken")
	}
}
