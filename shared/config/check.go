package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Check validates cfg, the settings l loaded over the defaults def, with
// validate, and returns validate's error with each of its errors naming
// the variables that caused it.
//
// The rules stay where they are, in each package's Validate, which speaks
// of its Config's fields: Check finds the variables by experiment. A
// variable that was set is named for an error when putting its field back
// to its default makes that error go (its text, or one of the same shape
// with other values, when no variable alone makes it go). The error then
// reads NAME="value" (a credential's value hidden, see Secret): the package's message, followed by the variable of
// each other field the message names, so that a rule over several fields
// ("want MinLimit ≤ InitialLimit ≤ MaxLimit") says which settings those
// are. A message that already names its variables is left as it is.
func Check[T any](l *Loader, cfg *T, def T, validate func(T) error) error {
	err := validate(*cfg)
	if err == nil {
		return nil
	}
	fields := fieldsOf(reflect.ValueOf(cfg).Elem())
	var vars []located // the variables read into cfg, in reading order
	for _, v := range l.vars {
		if f, ok := fields[keyOf(v.dst)]; ok {
			vars = append(vars, located{v, f})
		}
	}
	msgs := leaves(err)
	fixes, changes := make([][]located, len(msgs)), make([][]located, len(msgs))
	for _, v := range vars {
		if !v.set {
			continue
		}
		reverted := *cfg
		dst := reflect.ValueOf(&reverted).Elem().FieldByIndex(v.field.index)
		dst.Set(reflect.ValueOf(def).FieldByIndex(v.field.index))
		var after []string
		for _, e := range leaves(validate(reverted)) {
			after = append(after, e.Error())
		}
		for i, m := range msgs {
			switch {
			case slices.Contains(after, m.Error()):
			case slices.ContainsFunc(after, func(a string) bool { return shape(a) == shape(m.Error()) }):
				changes[i] = append(changes[i], v)
			default:
				fixes[i] = append(fixes[i], v)
			}
		}
	}
	out := make([]error, len(msgs))
	for i, m := range msgs {
		blamed := fixes[i]
		if len(blamed) == 0 {
			blamed = changes[i]
		}
		out[i] = name(m, blamed, vars)
	}
	return errors.Join(out...)
}

// located is a variable and the field of the settings it sets.
type located struct {
	variable
	field field
}

// name returns err prefixed by the blamed variables and their values,
// and followed by the variables of the other fields its message names.
func name(err error, blamed, vars []located) error {
	if len(blamed) == 0 {
		return err
	}
	msg := err.Error()
	var prefix []string
	for _, v := range blamed {
		if !mentions(msg, v.name) {
			prefix = append(prefix, v.shown())
		}
	}
	var legend []string
	named := false // whether the legend names a variable the prefix does not
	for _, v := range vars {
		if mentions(msg, v.name) {
			continue
		}
		if term, ok := v.field.termIn(msg, blamed); ok {
			legend = append(legend, term+" is "+v.name)
			named = named || !slices.ContainsFunc(blamed, func(b located) bool { return b.name == v.name })
		}
	}
	switch {
	case len(prefix) == 0 && !named:
		return err
	case len(prefix) == 0:
		return fmt.Errorf("%w (%s)", err, strings.Join(legend, ", "))
	case !named:
		return fmt.Errorf("%s: %w", strings.Join(prefix, ", "), err)
	}
	return fmt.Errorf("%s: %w (%s)", strings.Join(prefix, ", "), err, strings.Join(legend, ", "))
}

// termIn returns how msg names the field f, if it does: by the dotted
// path of its last two names or more (Upstream.Breaker.OpenTimeout), or
// by its name alone when it is in the same struct as a blamed field (a
// package's message names its own fields so: "MaxLimit").
func (f field) termIn(msg string, blamed []located) (string, bool) {
	for k := 0; k+2 <= len(f.names); k++ {
		if term := strings.Join(f.names[k:], "."); mentions(msg, term) {
			return term, true
		}
	}
	last := f.names[len(f.names)-1]
	sibling := slices.ContainsFunc(blamed, func(b located) bool { return slices.Equal(b.field.parent(), f.parent()) })
	return last, sibling && mentions(msg, last)
}

// mentions reports whether msg holds term as a word of its own: not a part
// of a longer name, dotted or not.
func mentions(msg, term string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], term)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(term)
		if (start == 0 || !isNamePart(msg[start-1])) && (end == len(msg) || !isNamePart(msg[end]) || msg[end] == '.' && (end+1 == len(msg) || !isNamePart(msg[end+1]))) {
			return true
		}
		i = start + 1
	}
}

func isNamePart(b byte) bool {
	return b == '_' || b == '.' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// leaves returns the errors that err joins, each once flattened, or err
// alone.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// Only a join: its message is its errors' messages, a line each;
		// an error that wraps several behind a message of its own is one.
		parts := j.Unwrap()
		texts := make([]string, len(parts))
		for i, p := range parts {
			texts[i] = p.Error()
		}
		if err.Error() == strings.Join(texts, "\n") {
			var out []error
			for _, p := range parts {
				out = append(out, leaves(p)...)
			}
			return out
		}
	}
	return []error{err}
}

// values matches what differs between two messages of one rule: a quoted
// string, or a number with its unit or what follows it (5s, 1m0s,
// 127.0.0.1:9180).
var values = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\b\d[\w.:µ]*`)

// shape is msg with its values left out.
func shape(msg string) string { return values.ReplaceAllString(msg, "#") }

// field is a field of the settings: its index path, and its names from
// the settings' root, embedded structs left out (Upstream.Breaker.OpenTimeout).
type field struct {
	index []int
	names []string
}

func (f field) parent() []string { return f.names[:len(f.names)-1] }

// fieldKey identifies a field by its address and type: a struct and its
// first field share an address.
type fieldKey struct {
	addr uintptr
	typ  reflect.Type
}

func keyOf(dst any) fieldKey {
	v := reflect.ValueOf(dst)
	return fieldKey{v.Pointer(), v.Type().Elem()}
}

// fieldsOf returns every exported field of the struct v, nested ones
// included, by address.
func fieldsOf(v reflect.Value) map[fieldKey]field {
	out := map[fieldKey]field{}
	var walk func(v reflect.Value, index []int, names []string)
	walk = func(v reflect.Value, index []int, names []string) {
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			f, idx, nm := v.Field(i), append(slices.Clone(index), i), names
			if !sf.Anonymous {
				nm = append(slices.Clone(names), sf.Name)
				out[fieldKey{f.UnsafeAddr(), sf.Type}] = field{idx, nm}
			}
			if sf.Type.Kind() == reflect.Struct {
				walk(f, idx, nm)
			}
		}
	}
	walk(v, nil, nil)
	return out
}
