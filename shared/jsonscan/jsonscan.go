// Package jsonscan checks the shape of a JSON body before it is decoded:
// how deep it nests, and whether an object repeats a member name, which a
// decoder would silently collapse (the last occurrence winning). It walks
// the bytes once, without recursion, so a hostile body costs linear time
// and constant stack. It is not a validator: syntax is the decoder's job.
// DecodeStrict puts the scan in front of a strict decoder, for request
// bodies decoded into a struct.
package jsonscan

import (
	"errors"
	"strconv"

	json "github.com/goccy/go-json"
)

// ErrTooDeep means the body nests deeper than the limit given to Scan.
var ErrTooDeep = errors.New("jsonscan: nesting too deep")

// ErrSyntax means a string in the body does not end or does not decode.
var ErrSyntax = errors.New("jsonscan: malformed string")

// Repeated names the first member that appears twice in one object.
type Repeated struct {
	// Path is where it is, in the form problems name fields: "items[1].quantity".
	Path string
	// Name is the member's name.
	Name string
}

// Scan walks body and returns the first repeated member, if any (nil
// otherwise), or ErrTooDeep when objects and arrays nest deeper than
// maxDepth, or ErrSyntax for a string it cannot read.
func Scan(body []byte, maxDepth int) (*Repeated, error) {
	dup, _, err := scan(body, maxDepth, nil)
	return dup, err
}

// scan is Scan that also holds the member names of the objects that
// decode into structs to the shape root of the whole body: it returns the
// first member that is not exactly the JSON name of a field (a name that
// differs only in case included) as unknown.
func scan(body []byte, maxDepth int, root *shape) (dup, unknown *Repeated, err error) {
	type frame struct {
		object    bool
		index     int
		expectKey bool
		keys      map[string]struct{}
		key       string
		// sh is the shape of this object or array, child that of the
		// value of its current member (objects) or of its elements
		// (arrays).
		sh, child *shape
	}
	var stack []frame
	path := func() string {
		var b []byte
		for i, f := range stack {
			if f.object {
				if f.key == "" {
					continue
				}
				if i > 0 {
					b = append(b, '.')
				}
				b = append(b, f.key...)
			} else {
				b = append(b, '[')
				b = strconv.AppendInt(b, int64(f.index), 10)
				b = append(b, ']')
			}
		}
		return string(b)
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return nil, nil, ErrTooDeep
			}
			sh := root
			if n := len(stack); n > 0 {
				sh = stack[n-1].child
			}
			f := frame{object: c == '{', expectKey: c == '{'}
			switch {
			case sh == nil:
			case c == '{' && sh.fields != nil:
				f.sh = sh
			case sh.fields == nil:
				// A map's members, or an array's elements, all have the
				// shape of its values.
				f.child = sh.elem
			}
			stack = append(stack, f)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].expectKey = true
				} else {
					stack[n-1].index++
				}
			}
		case '"':
			end := stringEnd(body, i)
			if end < 0 {
				return nil, nil, ErrSyntax
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				top := &stack[n-1]
				top.expectKey = false
				name, ok := memberName(body[i : end+1])
				if !ok {
					return nil, nil, ErrSyntax
				}
				if top.keys == nil {
					top.keys = map[string]struct{}{}
				}
				top.key = name
				if _, seen := top.keys[name]; seen && dup == nil {
					dup = &Repeated{Path: path(), Name: name}
				}
				top.keys[name] = struct{}{}
				if top.sh != nil {
					child, known := top.sh.fields[name]
					if !known && unknown == nil {
						unknown = &Repeated{Path: path(), Name: name}
					}
					top.child = child
				}
			}
			i = end
		}
	}
	return dup, unknown, nil
}

// memberName decodes the JSON string quoted, a member's name with its
// quotes. A name of printable ASCII without escapes, the common case, is
// its bytes; any other goes through the decoder.
func memberName(quoted []byte) (string, bool) {
	plain := true
	for _, b := range quoted[1 : len(quoted)-1] {
		if b < 0x20 || b > 0x7e || b == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(quoted[1 : len(quoted)-1]), true
	}
	var name string
	if json.Unmarshal(quoted, &name) != nil {
		return "", false
	}
	return name, true
}

// stringEnd returns the index of the quote closing the string that opens at
// body[start], or -1.
func stringEnd(body []byte, start int) int {
	for i := start + 1; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
