package httpserver

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

// PathID returns the path parameter name when it is a plausible resource id
// (1..64 characters of letters, digits, '-' and '_'); anything else is a 400
// problem, so a malformed id never reaches an upstream.
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

// PositiveID returns the path parameter name as a positive integer id; any
// other value is a 400 problem naming it.
func PositiveID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id < 1 {
		return 0, problem.Invalid(name, "The %s must be a positive integer.", name)
	}
	return id, nil
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

// MaxCursorLength bounds the cursor a client may send back.
const MaxCursorLength = 256

// ParsePage reads ?cursor= and ?limit= as PageOf validates them.
func ParsePage(c *fiber.Ctx) (Page, error) {
	return PageOf(c.Query("cursor"), c.Query("limit"))
}

// PageOf validates a page request. The cursor is opaque but must look like
// one (URL-safe base64, at most MaxCursorLength characters); the limit is
// 1..MaxLimit, DefaultLimit when empty. Errors are 400 problems naming the
// parameter; the Page owns its strings.
func PageOf(cur, limit string) (Page, error) {
	p := Page{Limit: DefaultLimit}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxLimit {
			return Page{}, problem.Invalid("limit", "limit must be an integer from 1 to %d.", MaxLimit)
		}
		p.Limit = n
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
