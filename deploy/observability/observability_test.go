// Package observability holds the BFFs' Grafana dashboard, Prometheus
// alert rules and the configs of the compose profile "observability". Its
// tests check that the dashboard and the rules query only metrics the BFFs
// export, and only labels those metrics have, and run promtool's checks
// and the rules' unit tests.
package observability

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/telemetry"
)

const (
	dashboardFile = "dashboards/storefront.json"
	rulesFile     = "alerts.yaml"
)

// TestDashboardAndRulesUseExportedMetrics fails naming each metric that the
// dashboard or the rules query and the BFFs do not export: after a rename,
// a panel would stay empty and an alert would never fire, without a word.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	dashboard := readFile(t, dashboardFile)
	rules := readFile(t, rulesFile)
	for _, src := range []struct {
		file  string
		exprs []string
	}{
		{dashboardFile, dashboardExprs(t, dashboard)},
		{rulesFile, ruleExprs(string(rules))},
	} {
		if len(src.exprs) == 0 {
			t.Fatalf("%s: no expression found", src.file)
		}
		var used, unknown []string
		for _, e := range src.exprs {
			for _, name := range metricNames(e) {
				used = append(used, name)
				if _, ok := exported[name]; !ok {
					unknown = append(unknown, name)
				}
			}
		}
		if len(used) == 0 {
			t.Errorf("%s: no metric name found in %d expressions", src.file, len(src.exprs))
		}
		slices.Sort(unknown)
		for _, name := range slices.Compact(unknown) {
			t.Errorf("%s queries %s, which the BFFs do not export", src.file, name)
		}
	}
}

// TestDashboardAndRulesUseExistingLabels fails naming each label matcher
// of the dashboard or the rules that selects on a label its metric does not
// have: a matcher on a missing label matches nothing (or, negated,
// everything), so a panel or an alert would go wrong without a word.
func TestDashboardAndRulesUseExistingLabels(t *testing.T) {
	exported := exportedMetrics(t)
	for _, src := range []struct {
		file  string
		exprs []string
	}{
		{dashboardFile, dashboardExprs(t, readFile(t, dashboardFile))},
		{rulesFile, ruleExprs(string(readFile(t, rulesFile)))},
	} {
		checked := 0
		for _, e := range src.exprs {
			for _, sel := range labelMatchers(e) {
				labels, ok := exported[sel.metric]
				if !ok {
					continue // an unknown metric fails TestDashboardAndRulesUseExportedMetrics
				}
				for _, l := range sel.labels {
					checked++
					if !labels[l] && !targetLabels[l] {
						t.Errorf("%s selects %s on the label %s, which it does not have (it has %v)",
							src.file, sel.metric, l, slices.Sorted(maps.Keys(labels)))
					}
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no label matcher found", src.file)
		}
	}
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true, "__name__": true}

// seeds create one series of a labelled family, which Gather leaves out
// until it has one. Each runs only when its family is missing, so that
// WatchAdmission, which registers its gauges, never runs twice.
var seeds = []struct {
	family string
	seed   func(*telemetry.Metrics)
}{
	{"bff_http_request_duration_seconds", func(m *telemetry.Metrics) {
		m.ObserveRequest("GET", "/x", "200", time.Millisecond)
	}},
	{"bff_upstream_call_duration_seconds", func(m *telemetry.Metrics) {
		m.ObserveCall("product", "get", "ok", time.Millisecond)
	}},
	{"bff_upstream_attempts_total", func(m *telemetry.Metrics) { m.ObserveAttempt("product", "ok") }},
	{"bff_upstream_breaker_state", func(m *telemetry.Metrics) { m.WatchBreaker("product", func() string { return "closed" }) }},
	{"bff_cache_lookups_total", func(m *telemetry.Metrics) { m.CacheLookup("product", true) }},
	{"bff_rate_limited_total", func(m *telemetry.Metrics) { m.RateLimited("default") }},
	{"bff_orders_total", func(m *telemetry.Metrics) { m.OrderOutcome("confirmed") }},
	{"bff_notifications_total", func(m *telemetry.Metrics) { m.NotificationOutcome("sent") }},
	{"bff_degraded_parts_total", func(m *telemetry.Metrics) { m.Degraded("x") }},
	{"bff_saga_recoveries_total", func(m *telemetry.Metrics) { m.SagaRecovered("completed") }},
	{"bff_saga_journal_write_seconds", func(m *telemetry.Metrics) { m.JournalWrite("create", time.Millisecond) }},
	{"bff_admission_shed_total", func(m *telemetry.Metrics) { m.Shed("anonymous") }},
	{"bff_admission_limit", func(m *telemetry.Metrics) {
		m.WatchAdmission(func() int { return 1 }, func() int { return 0 })
	}},
}

// exportedMetrics returns the name of every sample a BFF's /metrics can
// serve, each family's name and a histogram's _bucket, _sum and _count,
// with the names of its labels: the family's, and le or quantile for the
// buckets and quantiles.
func exportedMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	m := telemetry.NewMetrics()
	names := gather(t, m)
	for _, s := range seeds {
		if _, ok := names[s.family]; !ok {
			s.seed(m)
		}
	}
	return gather(t, m)
}

func gather(t *testing.T, m *telemetry.Metrics) map[string]map[string]bool {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := make(map[string]map[string]bool)
	for _, f := range families {
		labels := make(map[string]bool)
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		with := func(extra string) map[string]bool {
			l := maps.Clone(labels)
			l[extra] = true
			return l
		}
		name := f.GetName()
		switch f.GetType().String() {
		case "HISTOGRAM":
			names[name+"_bucket"] = with("le")
			names[name+"_sum"], names[name+"_count"] = labels, labels
			names[name] = labels
		case "SUMMARY":
			names[name] = with("quantile")
			names[name+"_sum"], names[name+"_count"] = labels, labels
		default:
			names[name] = labels
		}
	}
	return names
}

// TestDashboardUsesTheDataSourceVariable fails on a data source named by
// its uid, which exists only in the Grafana the dashboard was exported from.
func TestDashboardUsesTheDataSourceVariable(t *testing.T) {
	var dashboard any
	if err := json.Unmarshal(readFile(t, dashboardFile), &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	n := 0
	walk(dashboard, func(key string, v any) {
		if key != "datasource" {
			return
		}
		n++
		ds, ok := v.(map[string]any)
		if !ok {
			t.Errorf("datasource %v: want {\"type\": \"prometheus\", \"uid\": \"${datasource}\"}", v)
			return
		}
		if ds["type"] == "grafana" { // the built-in annotations
			return
		}
		if ds["type"] != "prometheus" || ds["uid"] != "${datasource}" {
			t.Errorf("datasource %v: want {\"type\": \"prometheus\", \"uid\": \"${datasource}\"}", ds)
		}
	})
	if n == 0 {
		t.Errorf("%s: no datasource found", dashboardFile)
	}
}

// TestRulesPassPromtool runs promtool's checks of the rules and the
// Prometheus config, and the rules' unit tests (alerts_test.yaml).
func TestRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not on the PATH (Debian's prometheus package)")
		}
		t.Skip("promtool is not on the PATH (Debian's prometheus package); with CI set, this fails")
	}
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", "alerts_test.yaml"},
		{"check", "config", "prometheus.yml"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"selector", `bff_orders_total`, []string{"bff_orders_total"}},
		{"function and labels", `sum by (job, le) (rate(bff_http_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))`,
			[]string{"bff_http_request_duration_seconds_bucket"}},
		{"recording rules are skipped", `job:bff_http_errors:ratio_rate1h > (14.4 * 0.001) and job:bff_http_errors:ratio_rate5m > 0`, nil},
		{"label values are not names", `bff_cache_lookups_total{cache="bff_products",result='go_hit'}`, []string{"bff_cache_lookups_total"}},
		{"comments are not names", "go_goroutines # not process_open_fds", []string{"go_goroutines"}},
		{"every prefix", `process_resident_memory_bytes + go_goroutines / bff_admission_limit`,
			[]string{"process_resident_memory_bytes", "go_goroutines", "bff_admission_limit"}},
		{"only whole names", `algo_x + up{job="bff-web"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestLabelMatchers(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []selector
	}{
		{"no matcher", `sum(rate(bff_orders_total[5m]))`, nil},
		{"every operator", `bff_x{a="1", b!="2",c=~"3|4",d!~'5'}`, []selector{{"bff_x", []string{"a", "b", "c", "d"}}}},
		{"braces and commas in values", `bff_x{a="{b=\"c\",d}"}`, []selector{{"bff_x", []string{"a"}}}},
		{"several selectors", "rate(bff_a{job=~\"$job\",le=\"0.5\"}[5m])\n/ rate(bff_b_count {route!~\"/healthz\"}[5m])",
			[]selector{{"bff_a", []string{"job", "le"}}, {"bff_b_count", []string{"route"}}}},
		{"recording rules and other metrics are skipped", `job:bff_x:rate5m{job="a"} + up{job="b"}`, nil},
		{"comments are skipped", "bff_x{a=\"1\"} # bff_y{b=\"2\"}", []selector{{"bff_x", []string{"a"}}}},
		{"trailing comma", `bff_x{a="1",}`, []selector{{"bff_x", []string{"a"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := labelMatchers(tc.expr); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("labelMatchers(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestRuleExprs(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"plain", "      - record: a:b\n        expr: sum(bff_orders_total)\n", []string{"sum(bff_orders_total)"}},
		{"quoted", "  - expr: \"up == 0\"\n  - expr: 'go_goroutines > 1'\n", []string{"up == 0", "go_goroutines > 1"}},
		{"block", "      - alert: A\n        expr: |\n          x\n\n            > 1\n        for: 1m\n      - alert: B\n        expr: >-\n          y\n",
			[]string{"x\n\n  > 1", "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ruleExprs(tc.yaml); !slices.Equal(got, tc.want) {
				t.Errorf("ruleExprs(%q) = %q, want %q", tc.yaml, got, tc.want)
			}
		})
	}
}

var (
	// promqlString matches PromQL's string literals, in which a label
	// value looking like a metric name is not one.
	promqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlIdent  = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	exprKey      = regexp.MustCompile(`^(\s*(?:-\s+)?)expr:\s*(.*)$`)
	// promqlSelector matches a metric name and its label matchers, once
	// string literals are emptied.
	promqlSelector = regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^{}]*)\}`)
	matcherLabel   = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// selector is a metric and the labels its matchers name.
type selector struct {
	metric string
	labels []string
}

// labelMatchers returns each selector of a BFF metric (see metricNames)
// in expr with label matchers, in order.
func labelMatchers(expr string) []selector {
	var sels []selector
	for _, line := range strings.Split(promqlString.ReplaceAllString(expr, `""`), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		for _, m := range promqlSelector.FindAllStringSubmatch(line, -1) {
			if len(metricNames(m[1])) == 0 {
				continue
			}
			sel := selector{metric: m[1]}
			for _, matcher := range strings.Split(m[2], ",") {
				if l := matcherLabel.FindStringSubmatch(matcher); l != nil {
					sel.labels = append(sel.labels, l[1])
				}
			}
			sels = append(sels, sel)
		}
	}
	return sels
}

// metricNames returns the names of the BFFs' metrics an expression
// queries, in order: identifiers starting bff_, go_ or process_. Names
// with a colon are recording rules (level:metric:operations), defined in
// alerts.yaml rather than exported.
func metricNames(expr string) []string {
	var names []string
	for _, line := range strings.Split(promqlString.ReplaceAllString(expr, `""`), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		for _, id := range promqlIdent.FindAllString(line, -1) {
			if strings.Contains(id, ":") {
				continue
			}
			if strings.HasPrefix(id, "bff_") || strings.HasPrefix(id, "go_") || strings.HasPrefix(id, "process_") {
				names = append(names, id)
			}
		}
	}
	return names
}

// dashboardExprs returns the expr of every query of a Grafana dashboard,
// in rows and panels at any depth.
func dashboardExprs(t *testing.T, data []byte) []string {
	t.Helper()
	var dashboard any
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	walk(dashboard, func(key string, v any) {
		if s, ok := v.(string); ok && key == "expr" {
			exprs = append(exprs, s)
		}
	})
	return exprs
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// walk calls f with each key and value of every object in v, depth first.
func walk(v any, f func(key string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			f(k, x)
			walk(x, f)
		}
	case []any:
		for _, x := range v {
			walk(x, f)
		}
	}
}

// ruleExprs returns the value of every expr key of a rules file: the rest
// of its line, unquoted, or after a block indicator (| or >, with any
// chomping) the lines indented deeper than the key, without their common
// indentation. It reads the subset of YAML that Prometheus rule files are
// written in, which spares the deploy module a YAML library.
func ruleExprs(yaml string) []string {
	var exprs []string
	lines := strings.Split(yaml, "\n")
	for i := 0; i < len(lines); i++ {
		m := exprKey.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		keyIndent, rest := len(m[1]), strings.TrimSpace(m[2])
		if rest == "" || rest[0] != '|' && rest[0] != '>' {
			exprs = append(exprs, unquote(rest))
			continue
		}
		var block []string
		for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || indent(lines[i+1]) > keyIndent) {
			i++
			block = append(block, lines[i])
		}
		exprs = append(exprs, dedent(block))
	}
	return exprs
}

func unquote(s string) string {
	switch {
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

func indent(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// dedent removes the blank lines around the block, and from each line the
// indentation of its first line.
func dedent(block []string) string {
	blank := func(l string) bool { return strings.TrimSpace(l) == "" }
	for len(block) > 0 && blank(block[0]) {
		block = block[1:]
	}
	for len(block) > 0 && blank(block[len(block)-1]) {
		block = block[:len(block)-1]
	}
	if len(block) == 0 {
		return ""
	}
	n := indent(block[0])
	for i, l := range block {
		if len(l) >= n {
			block[i] = l[n:]
		} else {
			block[i] = strings.TrimLeft(l, " ")
		}
	}
	return strings.Join(block, "\n")
}
