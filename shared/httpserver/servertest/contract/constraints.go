package contract

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Case is one request a document's constraints decide: an operation's
// example with one constraint broken (Valid false: the BFF must refuse it
// with 400 or 422), or with one value at a documented bound (Valid true:
// the BFF must not refuse it as malformed).
type Case struct {
	Method, Path string
	// Name says which constraint, e.g. "items[0].quantity above its maximum".
	Name string
	// Body is the JSON body; Query the query string, without "?", and
	// Param the query parameter it varies.
	Body         any
	Query, Param string
	Valid        bool
}

// Cases returns the cases of every operation of document: for each JSON
// request body with an example, one per constraint of its schema (required
// members, unknown members, types, lengths, patterns, bounds, item counts);
// for each query parameter, one per bound and pattern.
func Cases(document []byte) ([]Case, error) {
	var doc map[string]any
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, err
	}
	d := schemas{doc}
	var out []Case
	paths, _ := doc["paths"].(map[string]any)
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		ops, _ := paths[path].(map[string]any)
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op, _ := ops[method].(map[string]any)
			m := strings.ToUpper(method)
			for _, v := range d.bodyVariants(op) {
				out = append(out, Case{Method: m, Path: path, Name: v.name, Body: v.value, Valid: v.valid})
			}
			for _, q := range d.queryCases(op) {
				param, _, _ := strings.Cut(q.value.(string), "=")
				out = append(out, Case{Method: m, Path: path, Name: q.name, Query: q.value.(string), Param: param, Valid: q.valid})
			}
		}
	}
	return out, nil
}

// schemas resolves the document's local references.
type schemas struct{ doc map[string]any }

func (d schemas) resolve(s any) map[string]any {
	m, _ := s.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = d.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			next, _ := cur.(map[string]any)
			cur = next[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// variant is a value standing for another, and whether it is valid.
type variant struct {
	name  string
	value any
	valid bool
}

func (d schemas) bodyVariants(op map[string]any) []variant {
	rb := d.resolve(op["requestBody"])
	content, _ := rb["content"].(map[string]any)
	media := d.resolve(content["application/json"])
	if media == nil {
		return nil
	}
	schema := d.resolve(media["schema"])
	example, ok := media["example"]
	if !ok {
		examples, _ := schema["examples"].([]any)
		if len(examples) == 0 {
			return nil
		}
		example = examples[0]
	}
	return d.variants(schema, example, "body")
}

// variants are v's variants under schema s, each breaking or reaching one
// constraint; name is where v is.
func (d schemas) variants(s map[string]any, v any, name string) []variant {
	switch {
	case hasType(s, "object"):
		return d.objectVariants(s, v, name)
	case hasType(s, "array"):
		return d.arrayVariants(s, v, name)
	}
	out := typeVariants(s, name)
	if hasType(s, "string") {
		out = append(out, stringVariants(s, v, name)...)
	}
	if hasType(s, "integer") {
		out = append(out, numberVariants(s, name)...)
	}
	return out
}

func (d schemas) objectVariants(s map[string]any, v any, name string) []variant {
	obj, _ := v.(map[string]any)
	var out []variant
	required, _ := s["required"].([]any)
	for _, r := range required {
		k := r.(string)
		without := maps.Clone(obj)
		delete(without, k)
		out = append(out, variant{name + "." + k + " missing", without, false})
	}
	if s["additionalProperties"] == false {
		with := maps.Clone(obj)
		with["unexpected_member"] = 1
		out = append(out, variant{name + " with an unknown member", with, false})
	}
	props, _ := s["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		for _, sub := range d.variants(d.resolve(props[k]), obj[k], name+"."+k) {
			with := maps.Clone(obj)
			with[k] = sub.value
			out = append(out, variant{sub.name, with, sub.valid})
		}
	}
	return out
}

func (d schemas) arrayVariants(s map[string]any, v any, name string) []variant {
	arr, _ := v.([]any)
	var out []variant
	if n, ok := s["minItems"].(float64); ok && n > 0 {
		out = append(out, variant{name + " below its minItems", []any{}, false})
	}
	if n, ok := s["maxItems"].(float64); ok && len(arr) > 0 {
		out = append(out, variant{name + " at its maxItems", slices.Repeat(arr[:1], int(n)), true},
			variant{name + " above its maxItems", slices.Repeat(arr[:1], int(n)+1), false})
	}
	if len(arr) > 0 {
		for _, sub := range d.variants(d.resolve(s["items"]), arr[0], name+"[0]") {
			with := slices.Clone(arr)
			with[0] = sub.value
			out = append(out, variant{sub.name, with, sub.valid})
		}
	}
	return out
}

// typeVariants are values of JSON types s does not allow.
func typeVariants(s map[string]any, name string) []variant {
	var out []variant
	for _, c := range []struct {
		value   any
		allowed bool
	}{
		{7, hasType(s, "integer") || hasType(s, "number")},
		{"7", hasType(s, "string")},
		{1.5, hasType(s, "number")},
		{true, hasType(s, "boolean")},
		{nil, hasType(s, "null")},
	} {
		if !c.allowed {
			out = append(out, variant{fmt.Sprintf("%s as %#v", name, c.value), c.value, false})
		}
	}
	return out
}

func stringVariants(s map[string]any, v any, name string) []variant {
	example, _ := v.(string)
	fill := "k"
	if example != "" {
		fill = example[:1]
	}
	var out []variant
	if n, ok := s["minLength"].(float64); ok && n > 0 {
		out = append(out, variant{name + " below its minLength", strings.Repeat(fill, int(n)-1), false})
	}
	if n, ok := s["maxLength"].(float64); ok {
		out = append(out, variant{name + " at its maxLength", strings.Repeat(fill, int(n)), true},
			variant{name + " above its maxLength", strings.Repeat(fill, int(n)+1), false})
	}
	if p, ok := s["pattern"].(string); ok {
		re, err := regexp.Compile(p)
		for _, bad := range []string{" ", fill + " " + fill, fill + "\t"} {
			if err == nil && !re.MatchString(bad) {
				out = append(out, variant{fmt.Sprintf("%s not matching %s", name, p), bad, false})
				break
			}
		}
	}
	return out
}

func numberVariants(s map[string]any, name string) []variant {
	var out []variant
	if n, ok := s["minimum"].(float64); ok {
		out = append(out, variant{name + " at its minimum", int64(n), true}, variant{name + " below its minimum", int64(n) - 1, false})
	}
	if n, ok := s["maximum"].(float64); ok {
		out = append(out, variant{name + " at its maximum", int64(n), true}, variant{name + " above its maximum", int64(n) + 1, false})
	}
	return out
}

// hasType reports whether s allows JSON type typ ("type" a string or a list).
func hasType(s map[string]any, typ string) bool {
	switch t := s["type"].(type) {
	case string:
		return t == typ
	case []any:
		return slices.Contains(t, any(typ))
	}
	return false
}

// queryCases are the query strings that break or reach one query
// parameter's constraint, the others left out.
func (d schemas) queryCases(op map[string]any) []variant {
	params, _ := op["parameters"].([]any)
	var out []variant
	for _, p := range params {
		prm := d.resolve(p)
		if prm["in"] != "query" {
			continue
		}
		name := prm["name"].(string)
		s := d.resolve(prm["schema"])
		vs := numberVariants(s, "query "+name)
		if hasType(s, "string") {
			vs = append(vs, stringVariants(s, "", "query "+name)...)
		}
		if hasType(s, "integer") {
			vs = append(vs, variant{"query " + name + " as a word", "many", false}, variant{"query " + name + " empty", "", false})
		}
		for _, v := range vs {
			out = append(out, variant{v.name, name + "=" + queryEscape(fmt.Sprint(v.value)), v.valid})
		}
	}
	return out
}

func queryEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "\t", "%09").Replace(s)
}
