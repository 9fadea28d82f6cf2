package jsonscan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/problem"
)

// MaxDecodeDepth bounds the nesting of a body DecodeStrict accepts; the
// bodies the BFFs take nest two or three levels.
const MaxDecodeDepth = 16

// DecodeStrict decodes one JSON value into v, refusing unknown or repeated
// members, wrong types, trailing data and nesting deeper than
// MaxDecodeDepth, each as a 400 problem: CodeMalformedJSON when the body
// is not one JSON value (empty, not UTF-8, a syntax error, trailing data,
// too deep), CodeInvalid naming the field when it is JSON that breaks the
// schema (a wrong type, an unknown or repeated member), the codes the
// order body's decoding (orderflow) gives the same mistakes. A member of
// an object decoded into a struct must be exactly the JSON name of one of
// its fields: the decoder alone would match "EMAIL" to "email", so that a
// body could carry a field twice under two spellings (the last winning) or
// pass one the document does not know. Bytes that are not UTF-8 are
// refused too. It is plain Go, so that the packages that own a request
// body (auth's credentials) decode it without the HTTP edge.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.New(problem.CodeMalformedJSON, "The request body is empty; a JSON object is expected.")
	}
	// JSON is UTF-8 (RFC 8259 §8.1); the decoder would pass other bytes of
	// a string on as they came.
	if !utf8.Valid(body) {
		return problem.New(problem.CodeMalformedJSON, "The request body is not valid UTF-8.")
	}
	if err := checkStructure(body, shapeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	return nil
}

// syntaxProblem is the problem of a body that is not one JSON value.
func syntaxProblem(body []byte) *problem.Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if err := dec.Decode(&first); err == nil {
		var extra json.RawMessage
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return problem.New(problem.CodeMalformedJSON, "The request body has data after the JSON object.")
		}
	}
	return problem.New(problem.CodeMalformedJSON, "The request body is not valid JSON.")
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

// decodeProblem is the problem of the decoder's err.
func decodeProblem(err error) *problem.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := fieldPath(te.Field)
		return &problem.Error{Code: problem.CodeInvalid, Field: field, Detail: "Wrong type for " + quoteField(field) + ": expected " + jsonType(te.Type.Kind()) + ".", Err: err}
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		return &problem.Error{Code: problem.CodeInvalid, Detail: "The body has an " + problem.Clip(msg[i:]) + ".", Err: err}
	}
	return &problem.Error{Code: problem.CodeMalformedJSON, Detail: "The request body is not valid JSON.", Err: err}
}

// checkStructure refuses, in this order, pathological nesting, a body
// that is not one JSON value (a syntax error, trailing data: before any
// member is named, so that a broken body is malformed_json whatever it
// holds), and what decoding into a struct would silently accept: a
// repeated member, which the last occurrence would win, a member that is a
// field's name but for its case (see DecodeStrict), and a value other than
// an object (null) for a struct.
func checkStructure(body []byte, sh *shape) error {
	dup, unknown, err := scan(body, MaxDecodeDepth, sh)
	switch {
	case errors.Is(err, ErrTooDeep):
		return problem.New(problem.CodeMalformedJSON, "The request body nests deeper than %d levels.", MaxDecodeDepth)
	case !json.Valid(body):
		return syntaxProblem(body)
	case err != nil:
		// Valid JSON the scan could not follow: the decoder judges it.
		return nil
	case sh != nil && sh.fields != nil && bytes.TrimLeft(body, " \t\r\n")[0] != '{':
		return problem.New(problem.CodeInvalid, "The request body must be a JSON object.")
	case dup != nil:
		return &problem.Error{Code: problem.CodeInvalid, Field: problem.Clip(dup.Path),
			Detail: "The member " + strconv.Quote(problem.Clip(dup.Name)) + " appears more than once."}
	case unknown != nil:
		// Worded as the decoder words the unknown members it finds.
		return &problem.Error{Code: problem.CodeInvalid, Field: problem.Clip(unknown.Path),
			Detail: "The body has an unknown field " + strconv.Quote(problem.Clip(unknown.Name)) + ".",
			Err:    fmt.Errorf("unknown field %q at %s", problem.Clip(unknown.Name), problem.Clip(unknown.Path))}
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
