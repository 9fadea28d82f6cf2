package httpserver

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

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

// DecodeStrict decodes one JSON value into v, refusing unknown members,
// wrong types and trailing data, each as a 400 problem naming the problem.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.New(problem.CodeMalformedJSON, "The request body is empty; a JSON object is expected.")
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

func malformed(err error) *problem.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		return &problem.Error{Code: problem.CodeMalformedJSON, Field: field, Detail: "Wrong type for " + quoteField(field) + ": expected " + te.Type.String() + ".", Err: err}
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		return &problem.Error{Code: problem.CodeMalformedJSON, Detail: "The body has an " + msg[i:] + ".", Err: err}
	}
	return &problem.Error{Code: problem.CodeMalformedJSON, Detail: "The request body is not valid JSON.", Err: err}
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

// ParsePage reads ?cursor= and ?limit=. The cursor is opaque but must look
// like one (URL-safe base64, at most 256 characters); the limit is 1..50,
// default 20.
func ParsePage(c *fiber.Ctx) (Page, error) {
	p := Page{Limit: DefaultLimit}
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxLimit {
			return Page{}, problem.Invalid("limit", "limit must be an integer from 1 to %d.", MaxLimit)
		}
		p.Limit = n
	}
	cur := c.Query("cursor")
	if len(cur) > 256 {
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
