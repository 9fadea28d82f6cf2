package main

import (
	"testing"

	"storefront.dev/shared/config/configtest"
)

// TestREADMESettings: README.md's settings tables for bff-mobile list exactly the
// variables loadConfig reads, with the defaults it starts from.
func TestREADMESettings(t *testing.T) {
	configtest.CheckREADME(t, "../README.md", "bff-mobile", func(getenv func(string) string) (any, error) {
		return loadConfig(getenv)
	})
}
