// Command bff-mobile is the backend-for-frontend of the mobile apps: trimmed
// payloads under /v1, bearer tokens, mandatory Idempotency-Key on writes.
package main

import "storefront.dev/shared/gateway"

// bff is bff-mobile as the gateway assembles and serves it.
var bff = gateway.BFF[Config]{Name: "bff-mobile", Load: loadConfig, Routes: routes}

func main() {
	gateway.Main(gateway.Command{Name: bff.Name, AddrVar: addrVar, Run: run, Healthcheck: bff.Healthcheck})
}
