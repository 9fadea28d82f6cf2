package idempotency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"

	json "github.com/goccy/go-json"
)

// Fingerprint identifies a request body for telling a retry from a reuse of
// its key: the hex SHA-256 of the body's canonical JSON (object members
// sorted by name, insignificant whitespace dropped, strings re-escaped
// uniformly, numbers kept as written), so that a client re-serialising the
// same document differently still matches. A body that is not one JSON value
// is hashed as it is; its bytes can never equal a canonical JSON text, so the
// two kinds of fingerprints do not collide.
func Fingerprint(body []byte) string {
	var buf bytes.Buffer
	if err := canonicalJSON(&buf, body); err != nil {
		sum := sha256.Sum256(body)
		return hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

func canonicalJSON(buf *bytes.Buffer, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return writeCanonical(buf, v)
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(v))
		for name := range v {
			names = append(names, name)
		}
		slices.Sort(names)
		buf.WriteByte('{')
		for i, name := range names {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeString(buf, name); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[name]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		return writeString(buf, v)
	case json.Number:
		buf.WriteString(string(v))
	case bool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	default:
		return errors.New("unexpected JSON value")
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
