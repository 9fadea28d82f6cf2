package boltstore

import (
	"testing"

	"storefront.dev/shared/session"
	"storefront.dev/shared/session/sessiontest"
)

// TestSessionStore runs the session store contract on state files.
func TestSessionStore(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return open(t, tempPath(t)) })
}
