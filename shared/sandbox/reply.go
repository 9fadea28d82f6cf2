package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// apiError is a handler's refusal: the problem document it answers with.
type apiError struct {
	upstream.Problem
}

func (e *apiError) Error() string { return e.Code + ": " + e.Detail }

// fail returns an apiError with status, code and a formatted detail.
func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{upstream.Problem{
		Type:   problem.TypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: fmt.Sprintf(format, args...),
		Code:   code,
	}}
}

// invalid is the common 400 for bad input.
func invalid(format string, args ...any) *apiError {
	return fail(http.StatusBadRequest, string(problem.CodeInvalid), format, args...)
}

func notFound(format string, args ...any) *apiError {
	return fail(http.StatusNotFound, string(problem.CodeNotFound), format, args...)
}

func conflict(code, format string, args ...any) *apiError {
	return fail(http.StatusConflict, code, format, args...)
}

// reply is a finished response. It is what the idempotency store keeps and
// replays byte for byte.
type reply struct {
	status      int
	contentType string
	body        []byte
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil {
		return problemReply(fail(http.StatusInternalServerError, string(problem.CodeInternal), "encode response: %v", err))
	}
	return reply{status: status, contentType: "application/json", body: body}
}

func problemReply(e *apiError) reply {
	body, err := json.Marshal(e.Problem)
	if err != nil {
		// A Problem holds only strings, ints and a slice of plain structs.
		panic(fmt.Sprintf("sandbox: encode problem: %v", err))
	}
	return reply{status: e.Status, contentType: problem.ContentType, body: body}
}

// errorReply turns a handler error into its reply; anything but an apiError
// is a sandbox defect and answers 500.
func errorReply(err error) reply {
	var e *apiError
	if errors.As(err, &e) {
		return problemReply(e)
	}
	return problemReply(fail(http.StatusInternalServerError, string(problem.CodeInternal), "%v", err))
}

func (rep reply) write(w http.ResponseWriter, replayed bool) {
	h := w.Header()
	if rep.contentType != "" {
		h.Set("Content-Type", rep.contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	if replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// decodeJSON decodes a request body into v, refusing empty bodies, malformed
// JSON, wrong types and trailing data with a 400 that says which.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fail(http.StatusBadRequest, string(problem.CodeMalformedJSON), "the request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return invalid("field %q: %v", typeErr.Field, err)
		}
		return fail(http.StatusBadRequest, string(problem.CodeMalformedJSON), "malformed JSON: %v", err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fail(http.StatusBadRequest, string(problem.CodeMalformedJSON), "malformed JSON: trailing data after the object")
	}
	return nil
}
