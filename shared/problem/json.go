package problem

import (
	"bytes"
	"sort"

	json "github.com/goccy/go-json"
)

// MarshalJSON writes the standard members first, then the extension members
// in name order, flattened into the one object as RFC 9457 requires.
// Extensions never override a standard member.
func (d Document) MarshalJSON() ([]byte, error) {
	type plain Document
	base, err := json.Marshal(plain(d))
	if err != nil {
		return nil, err
	}
	if len(d.Extensions) == 0 {
		return base, nil
	}
	names := make([]string, 0, len(d.Extensions))
	for name := range d.Extensions {
		switch name {
		case "type", "title", "status", "detail", "instance", "code", "field":
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.Write(base[:len(base)-1])
	for _, name := range names {
		v, err := json.Marshal(d.Extensions[name])
		if err != nil {
			return nil, err
		}
		k, _ := json.Marshal(name)
		buf.WriteByte(',')
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
