package scenario

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
)

// metricsOnAdminOnly checks that the public port answers /metrics with a
// 404 problem and the admin listener serves it: every family with a HELP,
// and each series whose labels are known in advance there at zero before
// any event. promtool, when installed (CI installs it), lints the text.
func metricsOnAdminOnly(t *testing.T, sh Shop) {
	s := sh.Start(t)
	if r := servertest.Do(t, "GET", s.Base+"/metrics", nil); r.Status != 404 {
		t.Errorf("public GET /metrics: %d, want 404", r.Status)
	}
	text := servertest.Metrics(t, s.Base)
	for _, want := range []string{
		`bff_orders_total{outcome="confirmed"} 0`, `bff_orders_total{outcome="unavailable"} 0`,
		`bff_upstream_attempts_total{outcome="ok",service="payment"} 0`, `bff_upstream_attempts_total{outcome="timeout",service="order"} 0`,
		`bff_upstream_breaker_state{service="notification"} 0`, `bff_admission_shed_total{class="anonymous"} 0`,
		`bff_rate_limited_total{policy="orders"} 0`, `bff_saga_recoveries_total{outcome="failed"} 0`,
		`bff_notifications_total{outcome="dropped"} 0`, `bff_cache_lookups_total{cache="products",result="hit"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if !strings.Contains(text, "# HELP "+name+" ") {
				t.Errorf("%s has no HELP", name)
			}
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (Debian package prometheus)")
		}
		t.Log("promtool not installed: the lint is skipped")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
