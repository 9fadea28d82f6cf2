package servertest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	json "github.com/goccy/go-json"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the tests get")

// volatile are the members whose values change from run to run (times,
// tokens, cursors sealed with a key of the process's own); the golden files
// hold their names instead.
var volatile = map[string]bool{"created_at": true, "expires_at": true, "access_token": true, "next_cursor": true, "csrf_token": true}

// CheckGolden compares a JSON body with testdata/name, after replacing
// volatile members and indenting, so that a change of a view's shape or
// content shows as a readable diff. go test -update rewrites the file.
func CheckGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	got := normalise(t, body)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the answer (go test -update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func normalise(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(scrub(v)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func scrub(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if volatile[k] {
				v[k] = "<" + k + ">"
			} else {
				v[k] = scrub(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = scrub(x)
		}
	}
	return v
}
