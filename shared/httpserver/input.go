package httpserver

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/problem"
)

// PathID returns the path parameter name when it is a plausible opaque
// resource id (1..64 characters of letters, digits, '-' and '_'); anything
// else is a 400 problem, so a malformed id never reaches an upstream. The
// id's form beyond that is the owning service's business: it answers 404
// for an id it never issued.
func PathID(c *fiber.Ctx, name string) (string, error) {
	id := c.Params(name)
	if len(id) == 0 || len(id) > 64 {
		return "", problem.Invalid(name, "The %s must be 1 to 64 characters.", name)
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return "", problem.Invalid(name, "The %s may hold only letters, digits, '-' and '_'.", name)
		}
	}
	return strings.Clone(id), nil
}

// PositiveID returns the path parameter name as ParseID reads it; any other
// value is a 400 problem naming it.
func PositiveID(c *fiber.Ctx, name string) (int64, error) {
	id, ok := ParseID(c.Params(name))
	if !ok {
		return 0, problem.Invalid(name, "The %s must be a positive integer in decimal, without sign or leading zeros.", name)
	}
	return id, nil
}

// ParseID reads a positive integer id written in canonical decimal: digits
// only, no sign, no leading zero, at most 19 of them, within int64. Every
// other spelling of a number ("+1", "01", "1e3") is refused rather than read
// as the id it resembles, so that one resource has one URL and a cache or a
// rate limit keyed by the path cannot be sidestepped.
func ParseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	// The round trip refuses what ParseInt tolerates: a sign, leading zeros.
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// HeaderLines returns each line of the request header name, copied, in the
// order received; none when it is absent. Fiber's Get returns only the first
// line, which would let a second line pass unseen.
func HeaderLines(c *fiber.Ctx, name string) []string {
	all := c.Request().Header.PeekAll(name)
	if len(all) == 0 {
		return nil
	}
	lines := make([]string, len(all))
	for i, v := range all {
		lines[i] = string(v)
	}
	return lines
}

// Page is a validated cursor and limit.
type Page struct {
	Cursor string
	Limit  int
}

// Page limits.
const (
	DefaultLimit = 20
	MaxLimit     = 50
)

// MaxCursorLength bounds the cursor a client may send back: the longest the
// BFF seals (cursor.MaxLength), so that every cursor it hands out is taken
// back.
const MaxCursorLength = cursor.MaxLength

// ParsePage reads ?cursor= and ?limit= as PageOf validates them; a limit
// given empty (limit=) is refused like any other non-integer, not read as
// the default, and either given twice is refused (see QueryOnce).
func ParsePage(c *fiber.Ctx) (Page, error) {
	cur, err := QueryOnce(c, "cursor")
	if err != nil {
		return Page{}, err
	}
	limit, err := QueryOnce(c, "limit")
	if err != nil {
		return Page{}, err
	}
	if limit == "" && c.Context().QueryArgs().Has("limit") {
		return Page{}, problem.Invalid("limit", "limit must be an integer from 1 to %d.", MaxLimit)
	}
	return PageOf(cur, limit)
}

// HeaderOnce returns the request header field name, "" when absent, or a
// 400 problem naming it when it comes on more than one line: a field the
// BFF reads one value of (a credential, a CSRF token) would otherwise be
// read first-wins here and perhaps otherwise by a proxy in front (RFC 9110
// §5.3: a sender must not repeat it). The string is only valid during the
// request.
func HeaderOnce(c *fiber.Ctx, name string) (string, error) {
	if len(c.Request().Header.PeekAll(name)) > 1 {
		return "", problem.Invalid(name, "The header field %s appears more than once; send it once.", name)
	}
	return c.Get(name), nil
}

// QueryOnce returns the query parameter name, "" when absent, or a 400
// problem naming it when the query gives it more than once: read first or
// last, a repeated parameter would mean one thing here and another to a
// cache or proxy in front. The string is only valid during the request.
func QueryOnce(c *fiber.Ctx, name string) (string, error) {
	args := c.Context().QueryArgs()
	if vs := args.PeekMulti(name); len(vs) > 1 {
		return "", problem.Invalid(name, "The query parameter %s appears more than once; send it once.", name)
	}
	return c.Query(name), nil
}

// PageOf validates a page request. The cursor is opaque but must look like
// one (URL-safe base64, at most MaxCursorLength characters); the limit is
// 1..MaxLimit in canonical decimal, DefaultLimit when empty. Errors are 400
// problems naming the parameter; the Page owns its strings.
func PageOf(cur, limit string) (Page, error) {
	p := Page{Limit: DefaultLimit}
	if limit != "" {
		// In canonical decimal, as ParseID reads it: "05" and "5" would be
		// two URLs, two cache entries, of one page.
		n, ok := ParseID(limit)
		if !ok || n > MaxLimit {
			return Page{}, problem.Invalid("limit", "limit must be an integer from 1 to %d, in decimal without sign or leading zeros.", MaxLimit)
		}
		p.Limit = int(n)
	}
	if len(cur) > MaxCursorLength {
		return Page{}, problem.Invalid("cursor", "The cursor is not valid.")
	}
	for i := 0; i < len(cur); i++ {
		ch := cur[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '=') {
			return Page{}, problem.Invalid("cursor", "The cursor is not valid.")
		}
	}
	p.Cursor = strings.Clone(cur)
	return p, nil
}
