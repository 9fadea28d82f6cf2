package sandbox

import (
	"fmt"
	"net/http"
)

// table holds the records of one kind that a service creates (orders,
// payments, reservations): by id, by the caller's reference that makes
// their creation idempotent, and in creation order for the admin state. Its
// methods run under the service's lock.
type table[T any] struct {
	kind   string // the record's name in errors: "order"
	prefix string // of its ids: "ord" makes "ord_000001"

	byID        map[string]*T
	byReference map[string]string
	created     []string
	seq         int
}

func newTable[T any](kind, prefix string) table[T] {
	t := table[T]{kind: kind, prefix: prefix}
	t.reset()
	return t
}

// reset forgets every record.
func (t *table[T]) reset() {
	t.byID = map[string]*T{}
	t.byReference = map[string]string{}
	t.created = nil
	t.seq = 0
}

// claim checks that ref may name a new record: well formed and not already
// taken.
func (t *table[T]) claim(ref string) error {
	if err := validReference(ref); err != nil {
		return err
	}
	if id, ok := t.byReference[ref]; ok {
		return conflict("duplicate_reference", "reference %q already names %s %s", ref, t.kind, id)
	}
	return nil
}

// nextID returns the id of the record about to be created.
func (t *table[T]) nextID() string {
	t.seq++
	return fmt.Sprintf("%s_%06d", t.prefix, t.seq)
}

// add stores v, created with id and ref.
func (t *table[T]) add(id, ref string, v *T) {
	t.byID[id] = v
	t.byReference[ref] = id
	t.created = append(t.created, id)
}

// find returns the record with id, or a not_found refusal.
func (t *table[T]) find(id string) (*T, error) {
	v, ok := t.byID[id]
	if !ok {
		return nil, notFound("%s %q does not exist", t.kind, id)
	}
	return v, nil
}

// list returns a copy of every record, made by clone, in creation order.
func (t *table[T]) list(clone func(*T) T) []T {
	out := make([]T, 0, len(t.created))
	for _, id := range t.created {
		out = append(out, clone(t.byID[id]))
	}
	return out
}

// get serves GET /<kinds>/{id}.
func (t *table[T]) get(r *http.Request, _ []byte) (int, any, error) {
	v, err := t.find(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

// getByReference serves GET /<kinds>/by-reference/{reference}, with which
// a caller whose create went unanswered learns its outcome.
func (t *table[T]) getByReference(r *http.Request, _ []byte) (int, any, error) {
	ref := r.PathValue("reference")
	id, ok := t.byReference[ref]
	if !ok {
		return 0, nil, notFound("no %s has reference %q", t.kind, ref)
	}
	return http.StatusOK, t.byID[id], nil
}
