// Package config reads typed settings from an injected getenv. It is the only
// package that knows settings come from the environment, and, with each
// BFF's loadConfig, the only one that names the variables: every package
// that has settings exports a Config whose fields document their defaults,
// and a DefaultConfig. A BFF starts from those defaults, loads its settings
// once through a Loader (LoadBase for the shared ones), and validates them
// before listening.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Loader reads settings and collects every parse error, so a bad
// configuration is reported whole rather than one setting at a time.
type Loader struct {
	getenv func(string) string
	errs   []error
}

// NewLoader returns a Loader reading from getenv (os.Getenv in main).
func NewLoader(getenv func(string) string) *Loader { return &Loader{getenv: getenv} }

func (l *Loader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(l.getenv(name))
	return v, v != ""
}

func (l *Loader) fail(name, v string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: %w", name, v, err))
}

// String sets *dst from name when it is set.
func (l *Loader) String(dst *string, name string) {
	if v, ok := l.lookup(name); ok {
		*dst = v
	}
}

// Int sets *dst from name when it is set.
func (l *Loader) Int(dst *int, name string) {
	if v, ok := l.lookup(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.fail(name, v, errors.New("not an integer"))
			return
		}
		*dst = n
	}
}

// Bool sets *dst from name when it is set ("true", "false", "1", "0").
func (l *Loader) Bool(dst *bool, name string) {
	if v, ok := l.lookup(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.fail(name, v, errors.New("not a boolean"))
			return
		}
		*dst = b
	}
}

// Duration sets *dst from name when it is set, in Go syntax ("250ms", "2s").
func (l *Loader) Duration(dst *time.Duration, name string) {
	if v, ok := l.lookup(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			l.fail(name, v, errors.New("not a non-negative duration such as 2s"))
			return
		}
		*dst = d
	}
}

// List sets *dst from a comma-separated name when it is set. A value of
// only commas and spaces is refused: unset, the variable keeps the default.
func (l *Loader) List(dst *[]string, name string) {
	if v, ok := l.lookup(name); ok {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		if out == nil {
			l.fail(name, v, errors.New("lists nothing; leave it unset for the default"))
			return
		}
		*dst = out
	}
}

// URLs sets *dst from a comma-separated list of absolute http(s) URLs.
func (l *Loader) URLs(dst *[]string, name string) {
	var list []string
	l.List(&list, name)
	if list == nil {
		return
	}
	for _, raw := range list {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail(name, raw, errors.New("not an absolute http(s) URL"))
			return
		}
	}
	*dst = list
}

// Err returns every error met so far, joined, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }
