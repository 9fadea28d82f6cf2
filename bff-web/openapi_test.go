package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest/contract"
)

// TestMain checks every answer the tests receive against openapi.json.
func TestMain(m *testing.M) { contract.Main(m, openAPIDocument) }

func TestOpenAPIDocumentIsServed(t *testing.T) {
	contract.CheckServed(t, startStack(t).Base, openAPIDocument)
}

func TestOpenAPIListsEveryProblemCode(t *testing.T) { contract.CheckProblemCodes(t, openAPIDocument) }
