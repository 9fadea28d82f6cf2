package httpserver

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
)

// Credentials is the body of the login routes.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// DecodeCredentials strictly decodes a login body: both members, non-empty
// strings, nothing else.
func DecodeCredentials(body []byte) (Credentials, error) {
	var cr Credentials
	if err := DecodeStrict(body, &cr); err != nil {
		return Credentials{}, err
	}
	switch {
	case strings.TrimSpace(cr.Email) == "" || len(cr.Email) > 254:
		return Credentials{}, problem.Invalid("email", "email is required (at most 254 characters).")
	case cr.Password == "" || len(cr.Password) > 256:
		return Credentials{}, problem.Invalid("password", "password is required (at most 256 characters).")
	}
	return cr, nil
}

// MaxJSONDepth bounds the nesting of a body DecodeStrict accepts; the
// bodies the BFFs take nest two or three levels.
const MaxJSONDepth = 16

// DecodeStrict decodes one JSON value into v, refusing unknown or repeated
// members, wrong types, trailing data and nesting deeper than MaxJSONDepth,
// each as a 400 problem naming the problem.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.New(problem.CodeMalformedJSON, "The request body is empty; a JSON object is expected.")
	}
	if err := checkStructure(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return problem.New(problem.CodeMalformedJSON, "The request body has data after the JSON object.")
	}
	return nil
}

// jsonType names a Go kind the way a JSON client knows it, so that no Go
// type name reaches a client.
func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

func malformed(err error) *problem.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := fieldPath(te.Field)
		return &problem.Error{Code: problem.CodeMalformedJSON, Field: field, Detail: "Wrong type for " + quoteField(field) + ": expected " + jsonType(te.Type.Kind()) + ".", Err: err}
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		return &problem.Error{Code: problem.CodeMalformedJSON, Detail: "The body has an " + msg[i:] + ".", Err: err}
	}
	return &problem.Error{Code: problem.CodeMalformedJSON, Detail: "The request body is not valid JSON.", Err: err}
}

// checkStructure refuses what decoding into a struct would silently accept:
// a repeated member, which the last occurrence would win, and pathological
// nesting. Syntax errors are left to the decoder, which describes them.
func checkStructure(body []byte) error {
	dup, err := jsonscan.Scan(body, MaxJSONDepth)
	switch {
	case errors.Is(err, jsonscan.ErrTooDeep):
		return problem.New(problem.CodeMalformedJSON, "The request body nests deeper than %d levels.", MaxJSONDepth)
	case err != nil:
		return nil
	case dup != nil:
		return &problem.Error{Code: problem.CodeMalformedJSON, Field: dup.Path, Detail: "The member " + strconv.Quote(dup.Name) + " appears more than once."}
	}
	return nil
}

// fieldPath writes the decoder's "items.0.id" the way every other problem
// names a field: "items[0].id".
func fieldPath(f string) string {
	var b strings.Builder
	for i, seg := range strings.Split(f, ".") {
		switch {
		case seg != "" && strings.Trim(seg, "0123456789") == "":
			b.WriteString("[" + seg + "]")
		case i > 0:
			b.WriteString("." + seg)
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

func quoteField(f string) string {
	if f == "" {
		return "the body"
	}
	return strconv.Quote(f)
}

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
