package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patgate/patgate/enforce"
	"github.com/patgate/patgate/tokenclass"
)

// dashboardPath is the Grafana dashboard shipped for operators.
var dashboardPath = filepath.Join("..", "docs", "grafana", "patgate.json")

// dashboardPanels are the panels operators are promised (docs/grafana/README.md
// describes each one).
var dashboardPanels = []string{
	"Decisions per second by decision and reason",
	"Denials by token class",
	"Report mode: would-deny rate",
	"503s: unavailable (fail closed) by reason",
	"Lookup cache hit ratio",
	"Lookup latency (p50, p99)",
	"Lookup failures by kind",
	"Policy feed version",
	"Policy feed age",
	"Feed rejections by reason",
	"Answer elements removed by reason",
}

// TestGrafanaDashboard keeps docs/grafana/patgate.json honest: every
// expression must parse, name only series the module registers, and use
// only the labels those series carry; the promised panels must be there,
// and every query must go to the dashboard's datasource variable.
func TestGrafanaDashboard(t *testing.T) {
	series := moduleSeries(t)
	t.Logf("the module's series: %s", seriesNames(series))
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d: want a uid, a title and a schemaVersion of 36 or more", d.UID, d.Title, d.SchemaVersion)
	}

	dsVar := ""
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" {
				t.Errorf("datasource variable %q: query %s, want \"prometheus\"", v.Name, v.Query)
			}
			dsVar = v.Name
		case "query":
			if err := checkVariableQuery(v.Query, series); err != nil {
				t.Errorf("variable %q: %v", v.Name, err)
			}
		}
	}
	if dsVar == "" {
		t.Fatal("no datasource variable of type prometheus: the dashboard would not import anywhere")
	}
	dsRefs := []string{"$" + dsVar, "${" + dsVar + "}"}

	titles := map[string]bool{}
	exprs := 0
	for _, p := range allPanels(d) {
		if p.Type == "row" {
			continue
		}
		titles[p.Title] = true
		if p.Type == "text" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if err := checkDatasource(p.Datasource, dsRefs); err != nil {
			t.Errorf("panel %q: %v", p.Title, err)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil {
				if err := checkDatasource(tg.Datasource, dsRefs); err != nil {
					t.Errorf("panel %q, query %s: %v", p.Title, tg.RefID, err)
				}
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q, query %s: no expression", p.Title, tg.RefID)
				continue
			}
			exprs++
			for _, err := range checkExpr(tg.Expr, series) {
				t.Errorf("panel %q, query %s: %v\n\t%s", p.Title, tg.RefID, err, tg.Expr)
			}
		}
	}
	if exprs == 0 {
		t.Error("the dashboard has no expression")
	}
	for _, title := range dashboardPanels {
		if !titles[title] {
			t.Errorf("no panel titled %q", title)
		}
	}
}

// TestDashboardCheckerCatches shows that the dashboard's checker finds the
// mistakes it is there for, so that TestGrafanaDashboard passing means
// something.
func TestDashboardCheckerCatches(t *testing.T) {
	series := moduleSeries(t)
	for _, tc := range []struct {
		expr, want string // want: "" for a good expression, else part of an error
	}{
		{`sum by (decision, reason) (rate(caddy_pat_policy_decisions_total[$__rate_interval]))`, ""},
		{`histogram_quantile(0.99, sum by (le, kind) (rate(caddy_pat_policy_lookup_duration_seconds_bucket{result="ok"}[5m])))`, ""},
		{`sum(rate(caddy_pat_policy_decisions_total[1h] offset 1d)) by (token_class)`, ""},
		{`time() - min by (source) (caddy_pat_policy_feed_last_success_timestamp_seconds)`, ""},
		{`sum(rate(caddy_pat_policy_lookup_cache_total{result="hit"}[5m])) / on () sum(rate(caddy_pat_policy_lookup_cache_total[5m]))`, ""},
		{`{__name__="caddy_pat_policy_feed_version", source=~".+"}`, ""},
		{`rate(caddy_pat_policy_decisions_total{reason="no_feed", decision=~"$decision"}[5m])`, ""},
		{`rate(caddy_pat_policy_decision_total[5m])`, "not a metric the module registers"},
		{`rate(caddy_pat_policy_decisions_total_count[5m])`, "not a metric the module registers"},
		{`caddy_pat_policy_lookup_duration_seconds`, "not a metric the module registers"},
		{`caddy_pat_policy_lookup_duration_seconds_sum{le="1"}`, `label "le"`},
		{`rate(caddy_pat_policy_unavailable_total{token_class="classic"}[5m])`, `label "token_class"`},
		{`sum by (kind) (rate(caddy_pat_policy_unavailable_total[5m]))`, `label "kind"`},
		{`sum without (instance) (rate(caddy_pat_policy_unavailable_total[5m]))`, `label "instance"`},
		{`sum by (reason) (rate(caddy_pat_policy_unavailable_total[5m])) / on (job) sum by (reason) (rate(caddy_pat_policy_decisions_total[5m]))`, `label "job"`},
		{`sum by (le) (rate(caddy_pat_policy_lookup_duration_seconds_count[5m]))`, `label "le"`},
		{`rate(caddy_pat_policy_decisions_total{decision="denied"}[5m])`, `value "denied"`},
		{`rate(caddy_pat_policy_decisions_total{reason="nope"}[5m])`, `value "nope"`},
		{`rates(caddy_pat_policy_decisions_total[5m])`, "unknown function"},
		{`sum by (reason) (vector(1))`, "no metric"},
		{`{source="x"}`, "no metric name"},
		{`rate(caddy_pat_policy_decisions_total{decision="deny"[5m])`, "unbalanced"},
		{`rate(caddy_pat_policy_decisions_total{decision="deny}[5m])`, "unterminated string"},
	} {
		errs := checkExpr(tc.expr, series)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v, want no error", tc.expr, errs)
		case tc.want != "" && !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }):
			t.Errorf("%s: %v, want an error with %q", tc.expr, errs, tc.want)
		}
	}

	// Panels in collapsed rows and legacy rows are read too.
	var d dashboard
	if err := json.Unmarshal([]byte(`{"panels": [{"type": "row", "title": "r", "panels": [{"title": "inner", "targets": [{"expr": "x"}]}]}],
		"rows": [{"panels": [{"title": "legacy", "targets": [{"expr": "y"}]}]}]}`), &d); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range allPanels(d) {
		for _, tg := range p.Targets {
			got = append(got, p.Title+":"+tg.Expr)
		}
	}
	if want := []string{"inner:x", "legacy:y"}; !slices.Equal(got, want) {
		t.Errorf("expressions %v, want %v", got, want)
	}
}

// The parts of a Grafana dashboard the test reads.
type dashboard struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	SchemaVersion int          `json:"schemaVersion"`
	Panels        []dashPanel  `json:"panels"`
	Rows          []dashLegacy `json:"rows"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashLegacy struct {
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's
}

// allPanels lists every panel, those in rows included.
func allPanels(d dashboard) []dashPanel {
	var out []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, r := range d.Rows {
		walk(r.Panels)
	}
	return out
}

// checkDatasource accepts a reference to the dashboard's datasource
// variable only, so that the dashboard imports into any Grafana.
func checkDatasource(raw json.RawMessage, refs []string) error {
	var ds struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if err := json.Unmarshal(raw, &ds); err != nil {
		return fmt.Errorf("datasource %s: %v", raw, err)
	}
	if ds.Type != "prometheus" || !slices.Contains(refs, ds.UID) {
		return fmt.Errorf("datasource %s, want type prometheus and uid %s", raw, refs[len(refs)-1])
	}
	return nil
}

var (
	labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)
	queryResult      = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
)

// checkVariableQuery checks a query variable's Prometheus query.
func checkVariableQuery(raw json.RawMessage, series map[string]seriesInfo) error {
	var q string
	if err := json.Unmarshal(raw, &q); err != nil {
		var obj struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return fmt.Errorf("query %s: %v", raw, err)
		}
		q = obj.Query
	}
	var errs []error
	switch {
	case labelValuesQuery.MatchString(q):
		m := labelValuesQuery.FindStringSubmatch(q)
		errs = checkExpr(fmt.Sprintf("group by (%s) (%s)", m[2], m[1]), series)
	case queryResult.MatchString(q):
		errs = checkExpr(queryResult.FindStringSubmatch(q)[1], series)
	default:
		errs = []error{fmt.Errorf("query %q: cannot be checked; use label_values(<selector>, <label>) or query_result(<expr>)", q)}
	}
	return errors.Join(errs...)
}

// seriesInfo is one series name the module's metrics expose, with its labels.
type seriesInfo struct {
	family string
	labels map[string]bool
}

// moduleSeries returns the series names the module's metrics expose
// (histograms as <name>_bucket, _sum and _count), with their labels, read
// from the collectors initMetrics registers, not from a list kept by hand.
func moduleSeries(t *testing.T) map[string]seriesInfo {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := initMetrics(reg); err != nil {
		t.Fatal(err)
	}
	series := map[string]seriesInfo{}
	add := func(name, family string, labels []string, extra ...string) {
		s := seriesInfo{family: family, labels: map[string]bool{}}
		for _, l := range append(slices.Clone(labels), extra...) {
			s.labels[l] = true
		}
		series[name] = s
	}
	collector := reflect.TypeFor[prometheus.Collector]()
	v := reflect.ValueOf(&patMetrics).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.Type().Implements(collector) {
			continue
		}
		// The fields are unexported; the test is the package's own.
		c, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(prometheus.Collector)
		if c == nil || f.Kind() == reflect.Pointer && f.IsNil() {
			t.Errorf("patMetrics.%s is nil after initMetrics", v.Type().Field(i).Name)
			continue
		}
		// Registering it again tells whether initMetrics registered it.
		if err := reg.Register(c); !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			if err == nil {
				reg.Unregister(c)
			}
			t.Logf("patMetrics.%s is not registered by initMetrics (%v); the dashboard may not use it", v.Type().Field(i).Name, err)
			continue
		}
		for _, d := range describe(c) {
			name, labels, err := parseDesc(d)
			if err != nil {
				t.Fatal(err)
			}
			switch metricType(t, c) {
			case "HISTOGRAM", "GAUGE_HISTOGRAM":
				add(name+"_bucket", name, labels, "le")
				add(name+"_sum", name, labels)
				add(name+"_count", name, labels)
			case "SUMMARY":
				add(name, name, labels, "quantile")
				add(name+"_sum", name, labels)
				add(name+"_count", name, labels)
			default:
				add(name, name, labels)
			}
		}
	}
	// Whatever the registry gathers must have been found above.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		found := false
		for _, s := range series {
			found = found || s.family == mf.GetName()
		}
		if !found {
			t.Errorf("the registry has %s, which the test did not find in patMetrics", mf.GetName())
		}
	}
	if len(series) == 0 {
		t.Fatal("found no metric the module registers")
	}
	return series
}

// metricType says what kind of metric a collector makes: from its type
// for the vectors, which may have no series yet, else from what it gathers.
func metricType(t *testing.T, c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.HistogramVec:
		return "HISTOGRAM"
	case *prometheus.SummaryVec:
		return "SUMMARY"
	case *prometheus.CounterVec:
		return "COUNTER"
	case *prometheus.GaugeVec:
		return "GAUGE"
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 {
		t.Fatalf("a collector of type %T gathers %d metric families, want 1", c, len(mfs))
	}
	return mfs[0].GetType().String()
}

func describe(c prometheus.Collector) []*prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var ds []*prometheus.Desc
	for d := range ch {
		ds = append(ds, d)
	}
	return ds
}

// descPattern reads Desc.String(), the only public view of a descriptor's
// name and variable labels.
var descPattern = regexp.MustCompile(`(?s)^Desc\{fqName: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^{}]*)\}\}$`)

func parseDesc(d *prometheus.Desc) (name string, labels []string, err error) {
	m := descPattern.FindStringSubmatch(d.String())
	if m == nil {
		return "", nil, fmt.Errorf("cannot read descriptor %s", d)
	}
	if name, err = strconv.Unquote(m[1]); err != nil {
		return "", nil, fmt.Errorf("descriptor %s: %v", d, err)
	}
	for _, l := range strings.Split(m[2], ",") {
		// A constrained label reads c(name).
		if l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")"); l != "" {
			labels = append(labels, l)
		}
	}
	return name, labels, nil
}

// labelValues are the values the module gives the labels whose sets the
// code spells out, so that a matcher on a value it never sets (a typo: the
// panel would just stay empty) fails too.
func labelValues() map[string][]string {
	decisions := []string{"malformed"}
	for o := range enforce.NumOutcomes {
		decisions = append(decisions, enforce.Outcome(o).String(), "would_"+enforce.Outcome(o).String())
	}
	reasons := append([]string{"malformed"}, feedRejectionReasons...)
	for _, r := range enforce.Reasons() {
		reasons = append(reasons, r.String())
	}
	var classes []string
	for c := range 256 {
		if s := tokenclass.Class(c).String(); !strings.HasPrefix(s, "class(") {
			classes = append(classes, s)
		}
	}
	return map[string][]string{
		"decision":    decisions,
		"reason":      reasons,
		"token_class": classes,
		"mode":        {ModeEnforce, ModeReport},
	}
}

// PromQL words that are neither metrics nor labels.
var (
	promAggregations = words("sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio")
	promFunctions    = words(`abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
		clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv
		double_exponential_smoothing end exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
		histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase info irate label_join
		label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi
		predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
		sort_by_label sort_by_label_desc sort_desc sqrt start stddev_over_time stdvar_over_time sum_over_time tan
		tanh time timestamp vector year`)
	promKeywords    = words("and or unless bool offset atan2 inf nan")
	promLabelLists  = words("by without on ignoring group_left group_right")
	promAggGrouping = words("by without")
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

type tokenKind int

const (
	tIdent tokenKind = iota
	tNumber
	tString
	tPunct // ( ) { } ,
	tOp
)

type token struct {
	kind tokenKind
	text string // a string's unquoted value
}

var tokenOps = []string{"=~", "!~", "!=", "==", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "^", "@", ":"}

// tokenize splits a PromQL expression as Grafana sends it. Range and
// subquery brackets ([5m], [$__rate_interval], [1h:1m]) are dropped, and a
// Grafana variable outside a string stands for a number.
func tokenize(expr string) ([]token, error) {
	var toks []token
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			s := expr[i : j+1]
			if c == '\'' {
				s = `"` + strings.ReplaceAll(expr[i+1:j], `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(s)
			if err != nil {
				return nil, fmt.Errorf("string %s: %v", expr[i:j+1], err)
			}
			toks = append(toks, token{tString, v})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unbalanced [ at %d", i)
			}
			i += j + 1
		case c == '$':
			j := i + 1
			if j < len(expr) && expr[j] == '{' {
				k := strings.IndexByte(expr[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated ${ at %d", i)
				}
				j += k + 1
			} else {
				for j < len(expr) && isIdent(expr[j]) {
					j++
				}
			}
			toks = append(toks, token{tNumber, expr[i:j]})
			i = j
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(expr) && '0' <= expr[i+1] && expr[i+1] <= '9':
			j := i
			for j < len(expr) && (isIdent(expr[j]) || expr[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, expr[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			toks = append(toks, token{tIdent, expr[i:j]})
			i = j
		case strings.IndexByte("(){},", c) >= 0:
			toks = append(toks, token{tPunct, string(c)})
			i++
		case c == ']':
			return nil, fmt.Errorf("unbalanced ] at %d", i)
		default:
			op := ""
			for _, o := range tokenOps {
				if strings.HasPrefix(expr[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			toks = append(toks, token{tOp, op})
			i += len(op)
		}
	}
	return toks, nil
}

// selector is a vector selector: a metric and its matchers.
type selector struct {
	at       int // token index
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

// grouping is a label list: by/without with the aggregation's argument,
// or on/ignoring/group_left/group_right, which may name a label of any
// metric of the expression.
type grouping struct {
	keyword  string
	labels   []string
	from, to int // the aggregation's argument, as token indexes
}

// parseExpr finds an expression's selectors and label lists. It is no full
// PromQL parser: it knows the syntax well enough to tell metrics from
// functions, keywords, label names and strings.
func parseExpr(expr string) ([]selector, []grouping, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, nil, err
	}
	// match pairs every bracket with its partner.
	match := make([]int, len(toks))
	var stack []int
	for i, tk := range toks {
		if tk.kind != tPunct {
			continue
		}
		switch tk.text {
		case "(", "{":
			stack = append(stack, i)
		case ")", "}":
			open := map[string]string{")": "(", "}": "{"}[tk.text]
			if len(stack) == 0 || toks[stack[len(stack)-1]].text != open {
				return nil, nil, fmt.Errorf("unbalanced %s", tk.text)
			}
			match[stack[len(stack)-1]], match[i] = i, stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return nil, nil, fmt.Errorf("unbalanced %s", toks[stack[len(stack)-1]].text)
	}
	is := func(i int, kind tokenKind, text string) bool {
		return i < len(toks) && toks[i].kind == kind && toks[i].text == text
	}
	// labelList reads "( label, ... )" at i and returns the labels and the
	// index after it.
	labelList := func(i int) ([]string, int, error) {
		if !is(i, tPunct, "(") {
			return nil, 0, errors.New("label list without (")
		}
		var labels []string
		for j := i + 1; j < match[i]; j++ {
			switch {
			case toks[j].kind == tIdent:
				labels = append(labels, toks[j].text)
			case !is(j, tPunct, ","):
				return nil, 0, fmt.Errorf("unexpected %q in a label list", toks[j].text)
			}
		}
		return labels, match[i] + 1, nil
	}

	var sels []selector
	var groups []grouping
	skip := make([]bool, len(toks)) // label lists, read already
	for i := 0; i < len(toks); i++ {
		if skip[i] {
			continue
		}
		tk := toks[i]
		switch {
		case tk.kind == tPunct && tk.text == "{":
			// A selector without a metric name needs __name__="...".
			s, err := matchers(toks[i+1 : match[i]])
			if err != nil {
				return nil, nil, err
			}
			for _, m := range s {
				if m.label == "__name__" && m.op == "=" {
					sels = append(sels, selector{at: i, metric: m.value, matchers: s})
				}
			}
			if len(sels) == 0 || sels[len(sels)-1].at != i {
				return nil, nil, errors.New("a selector with no metric name")
			}
			i = match[i]
		case tk.kind != tIdent:
		case promLabelLists[tk.text] && !promAggGrouping[tk.text]:
			// on (...), ignoring (...), group_left [(...)]
			skip[i] = true
			if !is(i+1, tPunct, "(") {
				if tk.text == "on" || tk.text == "ignoring" {
					return nil, nil, fmt.Errorf("%s without a label list", tk.text)
				}
				continue
			}
			labels, next, err := labelList(i + 1)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %v", tk.text, err)
			}
			groups = append(groups, grouping{keyword: tk.text, labels: labels, from: -1, to: len(toks)})
			for j := i + 1; j < next; j++ {
				skip[j] = true
			}
		case promAggregations[tk.text] && (is(i+1, tPunct, "(") || is(i+1, tIdent, "by") || is(i+1, tIdent, "without")):
			g := grouping{}
			j := i + 1
			if toks[j].kind == tIdent {
				g.keyword = toks[j].text
				labels, next, err := labelList(j + 1)
				if err != nil {
					return nil, nil, fmt.Errorf("%s %s: %v", tk.text, g.keyword, err)
				}
				g.labels = labels
				for k := j; k < next; k++ {
					skip[k] = true
				}
				j = next
			}
			if !is(j, tPunct, "(") {
				return nil, nil, fmt.Errorf("%s without an argument", tk.text)
			}
			g.from, g.to = j, match[j]
			if k := match[j] + 1; g.keyword == "" && (is(k, tIdent, "by") || is(k, tIdent, "without")) {
				g.keyword = toks[k].text
				labels, next, err := labelList(k + 1)
				if err != nil {
					return nil, nil, fmt.Errorf("%s %s: %v", tk.text, g.keyword, err)
				}
				g.labels = labels
				for l := k; l < next; l++ {
					skip[l] = true
				}
			}
			if g.keyword != "" {
				groups = append(groups, g)
			}
		case is(i+1, tPunct, "("):
			if !promFunctions[tk.text] && !promAggregations[tk.text] {
				return nil, nil, fmt.Errorf("unknown function %s", tk.text)
			}
		case promKeywords[strings.ToLower(tk.text)]:
		case promAggGrouping[tk.text]:
			return nil, nil, fmt.Errorf("%s outside an aggregation", tk.text)
		default:
			s := selector{at: i, metric: tk.text}
			if is(i+1, tPunct, "{") {
				ms, err := matchers(toks[i+2 : match[i+1]])
				if err != nil {
					return nil, nil, err
				}
				s.matchers = ms
				i = match[i+1]
			}
			sels = append(sels, s)
		}
	}
	return sels, groups, nil
}

// matchers reads the inside of a selector's braces.
func matchers(toks []token) ([]matcher, error) {
	var ms []matcher
	for i := 0; i < len(toks); {
		if i+2 >= len(toks) || toks[i].kind != tIdent || toks[i+1].kind != tOp || toks[i+2].kind != tString {
			return nil, errors.New("a label matcher that is not label op \"value\"")
		}
		switch op := toks[i+1].text; op {
		case "=", "!=", "=~", "!~":
			ms = append(ms, matcher{toks[i].text, op, toks[i+2].text})
		default:
			return nil, fmt.Errorf("label matcher operator %s", op)
		}
		i += 3
		if i < len(toks) {
			if toks[i].kind != tPunct || toks[i].text != "," {
				return nil, errors.New("label matchers not separated by commas")
			}
			i++
		}
	}
	return ms, nil
}

// checkExpr checks one PromQL expression against the module's series.
func checkExpr(expr string, series map[string]seriesInfo) []error {
	sels, groups, err := parseExpr(expr)
	if err != nil {
		return []error{err}
	}
	var errs []error
	if len(sels) == 0 {
		errs = append(errs, errors.New("no metric in the expression"))
	}
	values := labelValues()
	for _, s := range sels {
		info, ok := series[s.metric]
		if !ok {
			errs = append(errs, fmt.Errorf("%s is not a metric the module registers (it registers %s)", s.metric, seriesNames(series)))
			continue
		}
		for _, m := range s.matchers {
			if m.label == "__name__" {
				continue
			}
			if !info.labels[m.label] {
				errs = append(errs, fmt.Errorf("%s has no label %q (it has %s)", s.metric, m.label, labelNames(info)))
				continue
			}
			if vs, ok := values[m.label]; ok && (m.op == "=" || m.op == "!=") && !strings.Contains(m.value, "$") && !slices.Contains(vs, m.value) {
				errs = append(errs, fmt.Errorf("%s: the module never sets %s to value %q (it sets %s)", s.metric, m.label, m.value, strings.Join(vs, ", ")))
			}
		}
	}
	for _, g := range groups {
		var scope []selector
		for _, s := range sels {
			if g.from < s.at && s.at < g.to {
				scope = append(scope, s)
			}
		}
		if len(scope) == 0 {
			errs = append(errs, fmt.Errorf("%s (%s): no metric to check the labels against", g.keyword, strings.Join(g.labels, ", ")))
			continue
		}
		for _, l := range g.labels {
			switch g.keyword {
			case "by", "without":
				// Every metric aggregated must have the label.
				for _, s := range scope {
					if info, ok := series[s.metric]; ok && !info.labels[l] {
						errs = append(errs, fmt.Errorf("%s (...): %s has no label %q (it has %s)", g.keyword, s.metric, l, labelNames(info)))
					}
				}
			default:
				// A vector matching label must be some metric's.
				if !slices.ContainsFunc(scope, func(s selector) bool { return series[s.metric].labels[l] }) {
					errs = append(errs, fmt.Errorf("%s (...): no metric of the expression has label %q", g.keyword, l))
				}
			}
		}
	}
	return errs
}

func seriesNames(series map[string]seriesInfo) string {
	var names []string
	for n := range series {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func labelNames(info seriesInfo) string {
	var names []string
	for n := range info.labels {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
