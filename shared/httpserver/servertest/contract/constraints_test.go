package contract

import (
	"strings"
	"testing"
)

func TestCases(t *testing.T) {
	doc := `{"paths": {"/x": {"post": {
		"parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
		"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/B"}, "example": {"n": 3, "s": "ab"}}}}}}},
		"components": {"schemas": {"B": {"type": "object", "required": ["n"], "additionalProperties": false,
			"properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}, "s": {"type": "string", "maxLength": 4, "pattern": "^[a-z]+$"}}}}}}`
	cases, err := Cases([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range cases {
		got[c.Name] = c.Valid
	}
	for name, valid := range map[string]bool{
		"body.n missing": false, "body with an unknown member": false, "body.n below its minimum": false,
		"body.n at its maximum": true, "body.n as \"7\"": false, "body.s above its maxLength": false,
		"body.s at its maxLength": true, "body.s not matching ^[a-z]+$": false, "query limit above its maximum": false,
		"query limit empty": false, "query limit at its minimum": true, "body.n as 1.5": false, "body.s as 7": false,
	} {
		if v, ok := got[name]; !ok || v != valid {
			t.Errorf("case %q: present %v valid %v, want valid %v; cases: %s", name, ok, v, valid, strings.Join(names(cases), "; "))
		}
	}
}

func names(cs []Case) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
