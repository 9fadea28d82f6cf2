package session_test

import (
	"context"
	"encoding/base64"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/session"
)

// A session whose tokens were sealed by the code that encoded them with
// encoding/json, tokens holding what JSON escapes (<, >, &, a quote, a
// backslash, U+2028): its id (the cookie) and what the store held of it.
const (
	earlierID      = "8_V1cj8jFtNE1DpLlH8mJsQynyut_TOnyMqlZHbaEUY"
	earlierSealed  = "2V3fvZaGWDBzYfXn5OQx34cTd3+bHzXAYXT0NGI9kYHiU40XVpoE0HmZipqhgf8BE6M1oDbzK+n2/DGeubk0ojvrnbGh6G5YxIhWEfKjARgamoAbb4ZVLn0FZqINnVZTmjaAoV17svBrsw=="
	earlierAccess  = "at<&>\"\\é\u2028"
	earlierRefresh = "rt</script>&amp;"
)

// TestSessionSealedByEarlierCodeOpens: a session sealed before the package
// encoded with goccy/go-json still opens, with its tokens as they were.
func TestSessionSealedByEarlierCodeOpens(t *testing.T) {
	sealed, err := base64.StdEncoding.DecodeString(earlierSealed)
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	now := time.Now()
	store.m[storeKey(earlierID)] = session.Session{UserID: "usr_ada", AccessExpires: now.Add(15 * time.Minute),
		AccessLifetime: 15 * time.Minute, CSRF: "c", Created: now, LastSeen: now, Sealed: sealed}
	m := session.New(store, newRotating(), session.DefaultConfig())
	s, err := m.Resolve(context.Background(), earlierID)
	if err != nil || s.AccessToken != earlierAccess || s.RefreshToken != earlierRefresh {
		t.Errorf("the session sealed earlier: %v, tokens %q and %q; want %q and %q",
			err, s.AccessToken, s.RefreshToken, earlierAccess, earlierRefresh)
	}
}

// TestEncodesWithGoccyJSON: the package encodes JSON with goccy/go-json,
// as every production package does, not encoding/json.
func TestEncodesWithGoccyJSON(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "encoding/json" {
				t.Errorf("%s imports encoding/json; want github.com/goccy/go-json", name)
			}
		}
	}
}
