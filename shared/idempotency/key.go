// Package idempotency parses the Idempotency-Key request header of
// draft-ietf-httpapi-idempotency-key-header-07. What a key guarantees (the
// first outcome replayed, 409 while in flight, 422 for another body) is kept
// by the order flow, whose saga journal is also the key's record.
package idempotency

import (
	"strings"

	"storefront.dev/shared/problem"
)

// MaxKeyLength is the longest key accepted, in bytes after unquoting.
const MaxKeyLength = 255

// ParseKey returns the key carried by an Idempotency-Key header value. The
// draft makes the field an sf-string (RFC 8941: `"abc"`, with `\"` and `\\`
// the only escapes); a bare token (RFC 9110 tchar plus ':', '/' and '=', which
// covers UUIDs and base64) is accepted too, for clients that do not quote.
// The key is 1 to MaxKeyLength printable ASCII characters. Surrounding spaces
// are ignored; parameters and lists are not, since the draft defines neither
// and two keys in one request cannot both be honoured. Errors are
// *problem.Error with CodeIdempotencyInvalid.
func ParseKey(header string) (string, error) {
	v := strings.Trim(header, " \t")
	if v == "" {
		return "", invalidKey("the key is empty")
	}
	if v[0] != '"' {
		return parseBare(v)
	}
	return parseQuoted(v)
}

// ParseLines returns the key of a request's Idempotency-Key field, given as
// the header lines it arrived in: "" when there is none (no line, or one
// empty line), the key ParseKey reads when there is one line, and an error
// when there are more, even if they repeat one key: RFC 9110 §5.3 reads
// several lines as one list, and a request names one key. Reading only the
// first line, as most header APIs do, would leave a proxy that reads the
// last one disagreeing with the BFF on which key a request carries.
func ParseLines(lines []string) (string, error) {
	switch {
	case len(lines) > 1:
		return "", invalidKey("the request has %d Idempotency-Key fields; send one", len(lines))
	case len(lines) == 0 || lines[0] == "":
		return "", nil
	}
	return ParseKey(lines[0])
}

func parseQuoted(v string) (string, error) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", invalidKey(`only \" and \\ may be escaped`)
			}
			b.WriteByte(v[i])
		case c == '"':
			if i != len(v)-1 {
				return "", invalidKey("unexpected characters after the key")
			}
			return checkLength(b.String())
		case c < 0x20 || c > 0x7e:
			return "", invalidKey("the key must be printable ASCII")
		default:
			b.WriteByte(c)
		}
		if b.Len() > MaxKeyLength {
			return "", invalidKey("the key is longer than %d characters", MaxKeyLength)
		}
	}
	return "", invalidKey("the key's closing quote is missing")
}

func parseBare(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if !bareChar(v[i]) {
			return "", invalidKey(`the key must be a quoted string ("...") or a token`)
		}
	}
	return checkLength(v)
}

func checkLength(k string) (string, error) {
	switch {
	case k == "":
		return "", invalidKey("the key is empty")
	case len(k) > MaxKeyLength:
		return "", invalidKey("the key is longer than %d characters", MaxKeyLength)
	}
	return k, nil
}

func bareChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/=", c) >= 0
}

func invalidKey(format string, args ...any) *problem.Error {
	return problem.New(problem.CodeIdempotencyInvalid, format, args...)
}
