// Command bff-web is the backend-for-frontend of the web SPA: rich,
// screen-shaped payloads under /api, cookie sessions with CSRF protection.
package main

import "storefront.dev/shared/gateway"

// bff is bff-web as the gateway assembles and serves it.
var bff = gateway.BFF[Config]{Name: "bff-web", Load: loadConfig, Routes: routes}

func main() {
	gateway.Main(gateway.Command{Name: bff.Name, AddrVar: addrVar, Run: run, Healthcheck: bff.Healthcheck})
}
