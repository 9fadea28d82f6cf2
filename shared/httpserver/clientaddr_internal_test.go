package httpserver

import "testing"

// FuzzForwardedFor: whatever a client puts in a Forwarded line before the
// element its proxy appends (an open quote, commas, semicolons, escapes),
// the client is read from the proxy's element.
func FuzzForwardedFor(f *testing.F) {
	for _, seed := range []string{
		"", "for=9.9.9.9", `for=9.9.9.9;x="`, `for=6.6.6.6;y="`, `x="\`, `"`, `for="\`, ",,;;==", `for=198.51.100.7;host="a\", for=1.2.3.4"`,
	} {
		f.Add(seed)
	}
	proxy := []struct{ elem, want string }{
		{"for=203.0.113.7", "203.0.113.7"},
		{`for="[2001:db8::7]:443";host="shop.example, x;y";proto=https`, "[2001:db8::7]:443"},
		// Quoted strings ending in an escaped backslash, or holding an
		// escaped quote: the proxy copies what the client sent as Host.
		{`for=203.0.113.8;host="evil\\"`, "203.0.113.8"},
		{`for=203.0.113.9;host="a\"b\\\""`, "203.0.113.9"},
	}
	f.Fuzz(func(t *testing.T, client string) {
		for _, p := range proxy {
			if got := forwardedFor(client + ", " + p.elem); got != p.want {
				t.Fatalf("forwardedFor(%q) = %q, want the proxy's %q", client+", "+p.elem, got, p.want)
			}
		}
		hopAddr(forwardedFor(client)) // must not panic
	})
}
