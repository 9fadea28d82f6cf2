// Package configtest keeps README.md's settings tables true for the BFFs'
// tests: every variable a BFF reads is documented, every documented one is
// read, and each documented default is the one the code starts from.
package configtest

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Load is a BFF's loadConfig with its result as an any, compared with
// reflect.DeepEqual.
type Load func(getenv func(string) string) (any, error)

// row is one variable of a settings table.
type row struct {
	// name is the variable, def the default column with its backticks
	// removed, or "" when it is not a literal value ("none", "off").
	name, def string
	// table is the line that introduces the table ("bff-web only:").
	table string
}

// CheckREADME fails t unless the tables in the "## Settings" section of the
// README at path that apply to bff (the shared ones and the one introduced
// by "<bff> only:") list exactly the variables load reads, and each literal
// default there, set as the variable's value, loads the same settings as
// leaving it unset.
func CheckREADME(t *testing.T, path, bff string, load Load) {
	t.Helper()
	problems, err := check(path, bff, load)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// RuntimeVariables are read by the Go runtime rather than a BFF's
// settings: a deployment may set them too.
var RuntimeVariables = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// Documented returns the variables the README at path lists for bff: the
// shared ones and its own. CheckREADME keeps that list the one bff reads,
// so the deploy files' tests hold what they set to it.
func Documented(path, bff string) (map[string]bool, error) {
	documented, _, err := documentedFor(path, bff)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(documented))
	for name := range documented {
		names[name] = true
	}
	return names, nil
}

// documentedFor returns the rows of the README at path that apply to bff,
// by name, and a problem for each name listed twice.
func documentedFor(path, bff string) (map[string]row, []string, error) {
	rows, err := readSettings(path)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	documented := map[string]row{}
	for _, r := range rows {
		if other, ok := strings.CutSuffix(r.table, " only:"); ok && other != bff {
			continue
		}
		if _, dup := documented[r.name]; dup {
			problems = append(problems, fmt.Sprintf("%s: %s is documented twice", path, r.name))
		}
		documented[r.name] = r
	}
	return documented, problems, nil
}

// check returns every disagreement between the README at path and load.
func check(path, bff string, load Load) ([]string, error) {
	documented, problems, err := documentedFor(path, bff)
	if err != nil {
		return nil, err
	}
	read := map[string]bool{}
	defaults, err := load(func(name string) string { read[name] = true; return "" })
	if err != nil {
		return nil, fmt.Errorf("%s with no variable set: %w", bff, err)
	}
	for _, name := range sorted(read) {
		if _, ok := documented[name]; !ok {
			problems = append(problems, fmt.Sprintf("%s reads %s, which %s does not list for it", bff, name, path))
		}
	}
	for _, name := range sorted(documented) {
		switch r := documented[name]; {
		case !read[name]:
			problems = append(problems, fmt.Sprintf("%s lists %s for %s, which does not read it", path, name, bff))
		case r.def != "":
			if p := checkDefault(load, defaults, r); p != "" {
				problems = append(problems, p)
			}
		}
	}
	return problems, nil
}

// checkDefault loads r's documented default as the value of its variable:
// the settings must be the defaults.
func checkDefault(load Load, defaults any, r row) string {
	got, err := load(func(name string) string {
		if name == r.name {
			return r.def
		}
		return ""
	})
	switch {
	case err != nil:
		return fmt.Sprintf("%s=%q, its documented default, does not load: %v", r.name, r.def, err)
	case !reflect.DeepEqual(got, defaults):
		return fmt.Sprintf("%s: the documented default %q is not the code's", r.name, r.def)
	}
	return ""
}

// readSettings returns the rows of every table in the "## Settings" section
// of the Markdown file at path: "| `NAME` | default | meaning |".
func readSettings(path string) ([]row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, section, ok := strings.Cut(string(b), "\n## Settings\n")
	if !ok {
		return nil, fmt.Errorf("%s: no \"## Settings\" section", path)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var rows []row
	intro := ""
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if line != "" {
				intro = line
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		name := strings.TrimSpace(cells[0])
		if len(cells) != 3 || !strings.HasPrefix(name, "`") {
			continue // the header and its underline
		}
		if strings.TrimSpace(cells[2]) == "" {
			return nil, fmt.Errorf("%s: %s has no meaning", path, name)
		}
		rows = append(rows, row{name: strings.Trim(name, "`"), def: literal(cells[1]), table: intro})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no settings table", path)
	}
	return rows, nil
}

// literal returns a default cell's value when it is one in backticks, ""
// for prose such as "none".
func literal(cell string) string {
	cell = strings.TrimSpace(cell)
	if len(cell) > 2 && strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") {
		return cell[1 : len(cell)-1]
	}
	return ""
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
