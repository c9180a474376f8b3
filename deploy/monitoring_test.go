package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pcx/publicservice/internal/metrics"
)

const (
	dashboardPath  = "grafana/pcx-dashboard.json"
	alertsPath     = "prometheus/alerts.yaml"
	operationsPath = "../docs/operations.md"
)

// exported are the metric names a query may use: the service's own families (a histogram's with
// its _bucket, _sum and _count) and the Temporal SDK series a worker is proven to export
// (metrics.TemporalSeries, TestTemporalMetricNames).
func exported() map[string]bool {
	names := map[string]bool{}
	for _, n := range metrics.New().Names() {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			names[n+suffix] = true
		}
	}
	for _, n := range metrics.TemporalSeries {
		names[n] = true
	}
	return names
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	grafanaVars    = regexp.MustCompile(`\$\w+`)
	// Words of PromQL itself, and Grafana's variables ($__rate_interval) once their $ is gone.
	promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL expression selects: identifiers outside strings,
// label matchers, ranges and grouping clauses that are not functions (followed by "(") nor words
// of the language. It is no parser, but the expressions of deploy/ are plain enough for it, and
// TestMetricNamesOfPromQL keeps it honest.
func metricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	e = grafanaVars.ReplaceAllString(e, " ")
	var names []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		word := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promqlWords[strings.ToLower(word)] {
			continue
		}
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // the exponent or unit of a number: 1e3, 2h
		}
		names = append(names, word)
	}
	return names
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (outcome) (rate(pcx_webhook_deliveries_total{outcome=~"delivered|failed"}[$__rate_interval]))`:  {"pcx_webhook_deliveries_total"},
		`histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_request_latency_seconds_bucket[5m])))`: {"temporal_request_latency_seconds_bucket"},
		"(a_total / (b > 0)) >= 0.9\nand\navg_over_time(c[10m]) > 1e3":                                          {"a_total", "b", "c"},
		`max(x{cause="worker"}) > 1800 unless on (instance) y`:                                                  {"x", "y"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %v, want %v", expr, got, want)
		}
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// The Grafana dashboard parses, picks its Prometheus through a datasource variable, has the
// panels operators need, and queries only metrics the service or the Temporal SDK exports: a
// renamed metric fails here.
func TestGrafanaDashboard(t *testing.T) {
	var d dashboard
	decodeFile(t, dashboardPath, json.Unmarshal, &d)
	if d.Title == "" || d.UID == "" {
		t.Errorf("the dashboard needs a title and a uid (got %q, %q)", d.Title, d.UID)
	}
	if !slices.Contains(d.Templating.List, variable{Name: "datasource", Type: "datasource", Query: "prometheus"}) {
		t.Error("no datasource variable (name datasource, type datasource, query prometheus)")
	}
	known := exported()
	var titles []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			titles = append(titles, p.Title)
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource must be ${datasource}", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queriesExported(t, known, "panel "+strconv.Quote(p.Title), tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{
		"Accepted events/s", "Deliveries by outcome /s", "Delivery failure ratio", "Accept → delivered latency",
		"Attempts by result /s", "Send slots in use / waiting", "Oldest pending delivery", "Endpoints disabled", "Breakers",
		"HTTP 5xx by route /s", "DynamoDB errors by operation /s", "DynamoDB throttles and retries by operation /s",
		"Temporal task schedule-to-start latency (p95)", "Build info",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q", want)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Every alert rule has a for, a severity, a summary, a description and a runbook that is a
// heading of docs/operations.md, and queries only exported metrics. promtool checks and tests
// the rules themselves (scripts/promtool.sh, make test).
func TestAlertRules(t *testing.T) {
	var f ruleFile
	decodeFile(t, alertsPath, yaml.Unmarshal, &f)
	ops, err := os.ReadFile(operationsPath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(ops))
	known := exported()
	var alerts []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.For == "" {
				t.Errorf("%s: no for:", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			page, anchor, _ := strings.Cut(r.Annotations["runbook"], "#")
			if page != "docs/operations.md" || !anchors[anchor] {
				t.Errorf("%s: runbook %q is no heading of docs/operations.md", r.Alert, r.Annotations["runbook"])
			}
			queriesExported(t, known, r.Alert, r.Expr)
		}
	}
	for _, want := range []string{"PCXDeliveryFailureRatioHigh", "PCXDeliveryPendingOnWorker", "PCXEndpointsDisabled", "PCXNotify5xx", "PCXWorkerSendSlotsSaturated"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// decodeFile reads path into v with unmarshal (json.Unmarshal, yaml.Unmarshal).
func decodeFile(t *testing.T, path string, unmarshal func([]byte, any) error, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// queriesExported fails the test unless expr, the query of what, selects metrics and only known
// ones.
func queriesExported(t *testing.T, known map[string]bool, what, expr string) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", what, expr)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s queries %s, which nothing exports (%s)", what, n, expr)
		}
	}
}

// markdownAnchors are the anchors of a Markdown document's headings, as GitHub makes them:
// lower case, spaces to hyphens, punctuation other than hyphens and underscores dropped.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	for line := range strings.Lines(doc) {
		title, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "#")
		if !ok {
			continue
		}
		title = strings.TrimSpace(strings.TrimLeft(title, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}
