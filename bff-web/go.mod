module storefront.dev/bff-web

go 1.26.8

require storefront.dev/shared v0.0.0

replace storefront.dev/shared => ../shared
