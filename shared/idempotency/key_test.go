package idempotency_test

import (
	"errors"
	"strings"
	"testing"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/problem"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		header string
		want   string
	}{
		{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{`8e03978e-40d5-43e8-bc93-6894a57f9324`, "8e03978e-40d5-43e8-bc93-6894a57f9324"},
		{`  "abc"  `, "abc"},
		{"\tabc\t", "abc"},
		{`"with space"`, "with space"},
		{`"quote \" and backslash \\"`, `quote " and backslash \`},
		{`"a,b;c=d"`, "a,b;c=d"},
		{`dGVzdA==`, "dGVzdA=="},
		{`urn:order/1`, "urn:order/1"},
		{`"x"`, "x"},
		{`"` + strings.Repeat("k", 255) + `"`, strings.Repeat("k", 255)},
		{strings.Repeat("k", 255), strings.Repeat("k", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := idempotency.ParseKey(tt.header)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.header, err)
			}
			if got != tt.want {
				t.Errorf("ParseKey(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestParseKeyRefuses(t *testing.T) {
	tests := []struct {
		name   string
		header string
	}{
		{"empty", ``},
		{"blank", `   `},
		{"empty string", `""`},
		{"too long quoted", `"` + strings.Repeat("k", 256) + `"`},
		{"too long bare", strings.Repeat("k", 256)},
		{"unterminated", `"abc`},
		{"lone quote", `"`},
		{"after the string", `"abc"x`},
		{"parameters", `"abc";a=1`},
		{"list", `"abc", "def"`},
		{"bad escape", `"a\nb"`},
		{"escape at end", `"abc\`},
		{"control char quoted", "\"a\x01b\""},
		{"tab quoted", "\"a\tb\""},
		{"DEL quoted", "\"a\x7fb\""},
		{"non-ASCII quoted", `"clé"`},
		{"non-ASCII bare", `clé`},
		{"space in bare", `a b`},
		{"quote in bare", `a"b`},
		{"comma list bare", `a,b`},
		{"semicolon bare", `a;b`},
		{"newline bare", "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idempotency.ParseKey(tt.header)
			var p *problem.Error
			if !errors.As(err, &p) || p.Code != problem.CodeIdempotencyInvalid {
				t.Fatalf("ParseKey(%q) = %q, %v; want a %s error", tt.header, got, err, problem.CodeIdempotencyInvalid)
			}
		})
	}
}

// quote serialises k as an sf-string.
func quote(k string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(k) + `"`
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `"a\"b"`, `""`, `"\`, "\"\x00\"", `"a";b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		key, err := idempotency.ParseKey(header)
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) || p.Code != problem.CodeIdempotencyInvalid {
				t.Fatalf("ParseKey(%q): got error %v, want a %s error", header, err, problem.CodeIdempotencyInvalid)
			}
			return
		}
		if len(key) < 1 || len(key) > idempotency.MaxKeyLength {
			t.Fatalf("ParseKey(%q) = %q: got length %d, want 1..%d", header, key, len(key), idempotency.MaxKeyLength)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: got byte %#x, want printable ASCII", header, key, key[i])
			}
		}
		// Any key a client can send quoted reads back unchanged.
		again, err := idempotency.ParseKey(quote(key))
		if err != nil || again != key {
			t.Fatalf("ParseKey(quote(%q)) = %q, %v; want the key back", key, again, err)
		}
	})
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    string
		invalid bool
	}{
		{"no field", nil, "", false},
		{"one empty line", []string{""}, "", false},
		{"one key", []string{`"k-1"`}, "k-1", false},
		{"two keys", []string{"k-1", "k-2"}, "", true},
		{"one key twice", []string{"k-1", "k-1"}, "", true},
		{"an empty line and a key", []string{"", "k-1"}, "", true},
		{"a list in one line", []string{`"k-1", "k-2"`}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idempotency.ParseLines(tt.lines)
			var p *problem.Error
			invalid := errors.As(err, &p) && p.Code == problem.CodeIdempotencyInvalid
			if got != tt.want || invalid != tt.invalid || (err != nil) != tt.invalid {
				t.Errorf("ParseLines(%q) = %q, %v; want %q, invalid %v", tt.lines, got, err, tt.want, tt.invalid)
			}
		})
	}
}

// FuzzParseLines reads each newline-separated part of block as one
// Idempotency-Key header line (an empty block as no field): a single line
// reads as ParseKey reads it, and two or more are refused whatever they
// hold.
func FuzzParseLines(f *testing.F) {
	for _, s := range []string{"", `"abc"`, "abc\nabc", "\nabc", `"a", "b"`, "a\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, block string) {
		var lines []string
		if block != "" {
			lines = strings.Split(block, "\n")
		}
		key, err := idempotency.ParseLines(lines)
		switch {
		case len(lines) > 1:
			var p *problem.Error
			if !errors.As(err, &p) || p.Code != problem.CodeIdempotencyInvalid || key != "" {
				t.Fatalf("ParseLines(%q) = %q, %v; want a %s error", lines, key, err, problem.CodeIdempotencyInvalid)
			}
		case len(lines) == 0:
			if key != "" || err != nil {
				t.Fatalf("ParseLines(nil) = %q, %v; want no key", key, err)
			}
		default:
			want, wantErr := idempotency.ParseKey(lines[0])
			if key != want || (err == nil) != (wantErr == nil) {
				t.Fatalf("ParseLines(%q) = %q, %v; want ParseKey's %q, %v", lines, key, err, want, wantErr)
			}
		}
	})
}
