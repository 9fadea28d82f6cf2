package redisstore_test

import (
	"testing"

	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/session"
	"storefront.dev/shared/session/sessiontest"
)

// TestSessionStore runs the session store contract on one Redis, each
// subtest under keys of its own.
func TestSessionStore(t *testing.T) {
	client := redistest.Client(t)
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return redisstore.NewSessions(client, redistest.Prefix(t))
	})
}
