package config_test

import (
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/config"
	"storefront.dev/shared/gateway"
)

func TestCacheSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    catalog.Config
		wantErr string
	}{
		{name: "defaults", want: catalog.Config{ProductTTL: time.Minute, StockTTL: time.Second, ListTTL: 30 * time.Second, MaxItems: 10_000}},
		{
			name: "overrides",
			env:  map[string]string{"CACHE_PRODUCT_TTL": "5m", "CACHE_STOCK_TTL": "0s", "CACHE_LIST_TTL": "10s", "CACHE_MAX_ITEMS": "50"},
			want: catalog.Config{ProductTTL: 5 * time.Minute, StockTTL: 0, ListTTL: 10 * time.Second, MaxItems: 50},
		},
		{name: "stock older than products", env: map[string]string{"CACHE_PRODUCT_TTL": "1s", "CACHE_STOCK_TTL": "2s"}, wantErr: "StockTTL 2s must not exceed ProductTTL 1s"},
		{name: "no room", env: map[string]string{"CACHE_MAX_ITEMS": "0"}, wantErr: "MaxItems"},
		{name: "negative TTL", env: map[string]string{"CACHE_LIST_TTL": "-1s"}, wantErr: "CACHE_LIST_TTL"},
		{name: "no view deadline", env: map[string]string{"VIEW_TIMEOUT": "0s"}, wantErr: "ViewTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gateway.DefaultConfig()
			l := config.NewLoader(func(k string) string { return tt.env[k] })
			config.LoadBase(l, &b)
			err := l.Err()
			if err == nil {
				err = b.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Cache != tt.want {
				t.Errorf("got %+v, want %+v", b.Cache, tt.want)
			}
		})
	}
}
