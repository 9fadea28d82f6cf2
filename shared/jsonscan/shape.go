package jsonscan

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// shape is what DecodeStrict knows of the Go value a JSON value decodes
// into, so that the scan can hold each member name to the struct field it
// must match exactly: the decoder matches names without regard to case,
// and would take "EMAIL" for "email". A nil *shape is a value whose members
// are not checked: a scalar, an interface, or a type that decodes itself.
type shape struct {
	// fields are a struct's members by their exact JSON names; nil for a
	// slice, an array or a map.
	fields map[string]*shape
	// elem is the shape of a slice's or an array's elements, or of a map's
	// values, whose keys are free.
	elem *shape
}

// shapes caches shapeOf: a reflect.Type's *shape (nil included).
var shapes sync.Map

// shapeOf returns the shape of the value v points to, computed once per
// type.
func shapeOf(v any) *shape {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, map[reflect.Type]*shape{})
	shapes.Store(t, s)
	return s
}

// buildShape returns the shape of t. building holds the struct types whose
// shape is being built, so that a type that contains itself ends.
func buildShape(t reflect.Type, building map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := building[t]; ok {
			return s
		}
		s := &shape{fields: map[string]*shape{}}
		building[t] = s
		for name, ft := range jsonFields(t) {
			s.fields[name] = buildShape(ft, building)
		}
		return s
	case reflect.Slice, reflect.Array, reflect.Map:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return nil // base64 text
		}
		if elem := buildShape(t.Elem(), building); elem != nil {
			return &shape{elem: elem}
		}
	}
	return nil
}

// decodesItself reports whether the decoder hands a value of type t to one
// of its methods rather than decoding it by its kind.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, m := range []string{"UnmarshalJSON", "UnmarshalJSONFrom", "UnmarshalText"} {
		if _, ok := p.MethodByName(m); ok {
			return true
		}
	}
	return false
}

// jsonFields returns the members of struct type t by JSON name, with the
// type of each, found as the decoder (go-json, like encoding/json) finds
// them: the fields of structs embedded without a name are promoted, the
// least nested first, a struct met again is not met again, and of the
// fields sharing a name the least nested wins, then the one that is
// tagged; a tie leaves the name to none.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	type candidate struct {
		name   string
		depth  int
		tagged bool
		typ    reflect.Type
	}
	var candidates []candidate
	visited := map[reflect.Type]bool{}
	next := []reflect.Type{t}
	for depth := 0; len(next) > 0; depth++ {
		current := next
		next = nil
		count := map[reflect.Type]int{}
		for _, st := range current {
			count[st]++
		}
		for _, st := range current {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := range st.NumField() {
				f := st.Field(i)
				if ignored(f) {
					continue
				}
				name, tagged := fieldName(f)
				if embedded := promoted(f, tagged); embedded != nil {
					next = append(next, embedded)
					continue
				}
				c := candidate{name: name, depth: depth, tagged: tagged, typ: f.Type}
				candidates = append(candidates, c)
				if count[st] > 1 {
					// Embedded twice at one level, each field is promoted
					// twice: a tie.
					candidates = append(candidates, c)
				}
			}
		}
	}
	slices.SortStableFunc(candidates, func(a, b candidate) int { return strings.Compare(a.name, b.name) })
	out := make(map[string]reflect.Type, len(candidates))
	for i := 0; i < len(candidates); {
		j := i + 1
		for j < len(candidates) && candidates[j].name == candidates[i].name {
			j++
		}
		same := candidates[i:j] // sorted stably: the least nested first
		least, tagged, dominant := 0, 0, -1
		for k, c := range same {
			if c.depth != same[0].depth {
				continue
			}
			least++
			if c.tagged {
				tagged++
				dominant = k
			} else if least == 1 {
				dominant = k
			}
		}
		if least == 1 || tagged == 1 {
			out[same[dominant].name] = same[dominant].typ
		}
		i = j
	}
	return out
}

// ignored reports whether the decoder leaves field f out: unexported (but
// for an embedded struct, whose exported fields are promoted), or tagged
// "-".
func ignored(f reflect.StructField) bool {
	if !f.IsExported() {
		if !f.Anonymous {
			return true
		}
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return true
		}
	}
	return f.Tag.Get("json") == "-"
}

// fieldName returns f's JSON name, and whether its tag gives it.
func fieldName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if validTag(name) {
		return name, true
	}
	return f.Name, false
}

// promoted returns the struct type whose fields f, embedded without a
// name, promotes, or nil.
func promoted(f reflect.StructField, tagged bool) reflect.Type {
	if !f.Anonymous || tagged {
		return nil
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// validTag reports whether the decoder takes s as a JSON name.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
