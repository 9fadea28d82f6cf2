package orderflow

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/jsonscan"
	"storefront.dev/shared/problem"
)

// Limits of an order request.
const (
	// MaxLines is the most lines an order may send; duplicates are merged
	// after, so the order priced has at most as many.
	MaxLines = 50
	// MaxQuantity is the most units of one product an order may ask for.
	MaxQuantity = 99
	// MaxTokenLength bounds payment_token, in characters; real tokens are a
	// few dozen.
	MaxTokenLength = 128
)

// maxScanDepth guards the JSON parser against pathological nesting. The
// schema itself nests three levels (object, items array, item object); the
// typed decoding below names the field of anything deeper, so this bound is
// only there to keep a hostile body cheap to reject.
const maxScanDepth = 32

// Item is one line of an order request.
type Item struct {
	ProductID int64 `json:"product_id"`
	Quantity  int   `json:"quantity"`
}

// Input is an order request body. The user is never part of it: it is the
// token's subject.
type Input struct {
	Items        []Item `json:"items"`
	PaymentToken string `json:"payment_token"`
}

// DecodeInput strictly decodes an order request body such as
// {"items":[{"product_id":1,"quantity":2}],"payment_token":"tok_visa"} and
// validates it as Place would.
//
// A "user_id" member is accepted and ignored, because the seed's clients still
// send it and the user is the token's subject. Any other unknown or repeated
// member, a wrong type, trailing data, an empty body, or nesting deeper than
// the schema returns a *problem.Error: CodeMalformedJSON when the body is not
// JSON, CodeInvalid naming the field ("items[1].quantity") otherwise.
func DecodeInput(body []byte) (Input, error) {
	// JSON's whitespace only (RFC 8259): bytes.TrimSpace would take a
	// no-break space or a line separator around the object for it.
	body = bytes.Trim(body, " \t\r\n")
	members, err := objectMembers(body)
	if err != nil {
		return Input{}, err
	}
	var in Input
	sawItems, sawToken := false, false
	for _, m := range members {
		switch m.name {
		case "items":
			sawItems = true
			if in.Items, err = decodeItems(m.raw); err != nil {
				return Input{}, err
			}
		case "payment_token":
			sawToken = true
			if in.PaymentToken, err = decodeString(m.raw, "payment_token"); err != nil {
				return Input{}, err
			}
		case "user_id":
			if !isStringOrInteger(m.raw) {
				return Input{}, problem.Invalid("user_id", "user_id is ignored but must be a string or an integer.")
			}
		default:
			return Input{}, problem.Invalid(problem.Clip(m.name), "The body has an unknown field %s.", strconv.Quote(problem.Clip(m.name)))
		}
	}
	if !sawItems {
		return Input{}, problem.Invalid("items", "items is required.")
	}
	if !sawToken {
		return Input{}, problem.Invalid("payment_token", "payment_token is required.")
	}
	if _, err := normalize(in); err != nil {
		return Input{}, err
	}
	return in, nil
}

// objectMembers checks that body is one JSON object, valid UTF-8, nested
// at most maxScanDepth deep and naming no member twice, and returns its
// members in the order it names them.
func objectMembers(body []byte) ([]member, error) {
	if len(body) == 0 {
		return nil, problem.New(problem.CodeMalformedJSON, "The request body is empty.")
	}
	dup, err := jsonscan.Scan(body, maxScanDepth)
	switch {
	case errors.Is(err, jsonscan.ErrTooDeep):
		return nil, problem.New(problem.CodeMalformedJSON, "The request body nests deeper than %d levels.", maxScanDepth)
	case err != nil:
		return nil, problem.New(problem.CodeMalformedJSON, "The request body is not valid JSON.")
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, problem.New(problem.CodeMalformedJSON, "The request body is not valid JSON.")
	}
	if dup != nil {
		return nil, problem.Invalid(problem.Clip(dup.Path), "The member %s appears more than once.", strconv.Quote(problem.Clip(dup.Name)))
	}
	if body[0] != '{' {
		return nil, problem.New(problem.CodeInvalid, "The request body must be a JSON object.")
	}
	members, err := membersOf(body)
	if err != nil {
		return nil, problem.Wrap(err, problem.CodeMalformedJSON, "The request body is not valid JSON.")
	}
	return members, nil
}

// member is one member of a JSON object.
type member struct {
	name string
	raw  json.RawMessage
}

// membersOf returns the members of the JSON object obj in the order it
// names them, so that a body's first mistake is reported first, as
// DecodeStrict does.
func membersOf(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		members = append(members, member{name: name, raw: raw})
	}
	return members, nil
}

// errNotObject is the cause of a value read as an object that is not one.
var errNotObject = errors.New("not a JSON object")

func decodeItems(raw json.RawMessage) ([]Item, error) {
	if firstByte(raw) != '[' {
		return nil, problem.Invalid("items", "items must be an array.")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, invalidCause(err, "items", "items must be an array.")
	}
	if len(elems) > MaxLines {
		// Checked before the lines are decoded one by one.
		return nil, problem.Invalid("items", "An order has at most %d lines.", MaxLines)
	}
	items := make([]Item, len(elems))
	for i, el := range elems {
		at := fmt.Sprintf("items[%d]", i)
		if firstByte(el) != '{' {
			return nil, problem.Invalid(at, "%s must be an object.", at)
		}
		members, err := membersOf(el)
		if err != nil {
			return nil, invalidCause(err, at, at+" must be an object.")
		}
		var sawID, sawQty bool
		for _, m := range members {
			field := at + "." + m.name
			switch m.name {
			case "product_id":
				sawID = true
				n, err := decodeInt(m.raw, field)
				if err != nil {
					return nil, err
				}
				items[i].ProductID = n
			case "quantity":
				sawQty = true
				n, err := decodeInt(m.raw, field)
				if err != nil {
					return nil, err
				}
				if n < 1 || n > MaxQuantity {
					return nil, problem.Invalid(field, "quantity must be between 1 and %d.", MaxQuantity)
				}
				items[i].Quantity = int(n)
			default:
				return nil, problem.Invalid(problem.Clip(field), "The body has an unknown field %s.", strconv.Quote(problem.Clip(m.name)))
			}
		}
		if !sawID {
			return nil, problem.Invalid(at+".product_id", "product_id is required.")
		}
		if !sawQty {
			return nil, problem.Invalid(at+".quantity", "quantity is required.")
		}
	}
	return items, nil
}

// decodeInt accepts only a JSON integer literal: "1.0", "1e2", a string or
// null are type errors, so a client bug is reported instead of rounded.
func decodeInt(raw json.RawMessage, field string) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" || !allDigits(digits) {
		return 0, problem.Invalid(field, "%s must be an integer.", field)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, problem.Invalid(field, "%s is out of range.", field)
	}
	return n, nil
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	if firstByte(raw) != '"' {
		return "", problem.Invalid(field, "%s must be a string.", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalidCause(err, field, field+" must be a string.")
	}
	return s, nil
}

func invalidCause(err error, field, detail string) *problem.Error {
	e := problem.Wrap(err, problem.CodeInvalid, detail)
	e.Field = field
	return e
}

// isStringOrInteger reports whether raw is a JSON string or an integer
// (no fraction, no exponent), as the documents type user_id.
func isStringOrInteger(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		return true
	}
	digits := bytes.TrimPrefix(raw, []byte("-"))
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validToken reports whether a payment token is 1 to MaxTokenLength
// printable ASCII characters other than space (0x21 to 0x7E), what payment
// providers issue: a NUL, a control character or a lone surrogate would
// otherwise travel to the payment service and into its logs.
func validToken(tok string) bool {
	if len(tok) == 0 || len(tok) > MaxTokenLength {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return false
		}
	}
	return true
}

// line is a validated, merged order line; first is the index of the line in
// the request that introduced the product, so errors name what the client sent.
type line struct {
	ProductID int64
	Quantity  int
	first     int
}

// normalize validates in and returns its lines merged by product and sorted
// by product id, the order in which every upstream sees them.
func normalize(in Input) ([]line, error) {
	if len(in.Items) == 0 || len(in.Items) > MaxLines {
		return nil, problem.Invalid("items", "An order has 1 to %d lines.", MaxLines)
	}
	if in.PaymentToken == "" {
		return nil, problem.Invalid("payment_token", "payment_token is required.")
	}
	if !validToken(in.PaymentToken) {
		return nil, problem.Invalid("payment_token", "payment_token must be 1 to %d printable ASCII characters, without spaces.", MaxTokenLength)
	}
	byID := make(map[int64]int, len(in.Items))
	lines := make([]line, 0, len(in.Items))
	for i, it := range in.Items {
		if it.ProductID <= 0 {
			return nil, problem.Invalid(fmt.Sprintf("items[%d].product_id", i), "product_id must be a positive integer.")
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return nil, problem.Invalid(fmt.Sprintf("items[%d].quantity", i), "quantity must be between 1 and %d.", MaxQuantity)
		}
		if j, ok := byID[it.ProductID]; ok {
			lines[j].Quantity += it.Quantity
			if lines[j].Quantity > MaxQuantity {
				return nil, problem.Invalid(fmt.Sprintf("items[%d].quantity", i),
					"The lines for product %d add up to more than %d units.", it.ProductID, MaxQuantity)
			}
			continue
		}
		byID[it.ProductID] = len(lines)
		lines = append(lines, line{ProductID: it.ProductID, Quantity: it.Quantity, first: i})
	}
	slices.SortFunc(lines, func(a, b line) int {
		switch {
		case a.ProductID < b.ProductID:
			return -1
		case a.ProductID > b.ProductID:
			return 1
		}
		return 0
	})
	return lines, nil
}
