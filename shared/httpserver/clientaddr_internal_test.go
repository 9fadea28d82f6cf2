package httpserver

import (
	"strings"
	"testing"
)

// FuzzLastHop: a proxy header's line, whatever it holds, gives at most the
// text it had as its last hop, and reading that as an address never
// panics; an address read is one the line spelled out.
func FuzzLastHop(f *testing.F) {
	for _, seed := range []string{
		"203.0.113.1", "198.51.100.7, 203.0.113.1", "[2001:db8::1]:443", `for="[2001:db8::1]:80";proto=https`,
		`for=198.51.100.7;host="a\", for=203.0.113.1"`, `for=_hidden`, `"`, `for="\`, ",,;;==",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		hop := lastHop(line)
		if len(hop) > len(line) {
			t.Fatalf("lastHop(%q) = %q, longer than the line", line, hop)
		}
		if a, ok := hopAddr(hop); ok && !a.IsValid() {
			t.Fatalf("hopAddr(%q) reported an invalid address", hop)
		}
		// An IPv4 address is spelled as read, unless it came mapped in IPv6.
		if a, ok := hopAddr(hop); ok && a.Is4() && !strings.Contains(line, a.String()) && !strings.Contains(strings.ToLower(line), "::ffff:") {
			t.Fatalf("hopAddr(%q) = %v, which %q does not spell", hop, a, line)
		}
	})
}
