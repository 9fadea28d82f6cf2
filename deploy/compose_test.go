package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"storefront.dev/shared/config/configtest"
)

// TestComposeFile loads deploy/compose.yaml as docker compose does,
// validated against the Compose specification, with every profile, and
// checks that each BFF has a healthcheck and starts once Redis is healthy.
func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithProfiles([]string{"*"}),
		cli.WithName("storefront"), cli.WithWorkingDirectory(filepath.Dir("compose.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"sandbox", "redis", "bff-web", "bff-mobile", "otel-collector", "prometheus", "grafana"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	for _, name := range []string{"bff-web", "bff-mobile"} {
		s, err := p.GetService(name)
		if err != nil {
			continue
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) != 3 || s.HealthCheck.Test[1] != "/"+name || s.HealthCheck.Test[2] != "healthcheck" {
			t.Errorf("%s: healthcheck %+v, want its own healthcheck subcommand", name, s.HealthCheck)
		}
		if d := s.DependsOn["redis"]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends on redis with %q, want %s", name, d.Condition, types.ServiceConditionHealthy)
		}
		if s.Environment["ADMIN_ADDR"] == nil || *s.Environment["ADMIN_ADDR"] == "" {
			t.Errorf("%s: no ADMIN_ADDR for Prometheus to scrape", name)
		}
		documented, err := configtest.Documented("../README.md", name)
		if err != nil {
			t.Fatal(err)
		}
		for v := range s.Environment {
			if !documented[v] && !configtest.RuntimeVariables[v] {
				t.Errorf("%s: sets %s, which it does not read", name, v)
			}
		}
	}
	// The journal, when in Redis, must outlive a restart of Redis.
	if r, err := p.GetService("redis"); err == nil {
		i := slices.Index(r.Command, "--appendonly")
		if i < 0 || i+1 == len(r.Command) || r.Command[i+1] != "yes" || len(r.Volumes) == 0 || r.Volumes[0].Target != "/data" {
			t.Errorf("redis: command %v, volumes %v; want an append-only file on a volume at /data", r.Command, r.Volumes)
		}
	}
}
