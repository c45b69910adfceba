package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	rulesPath      = "../../charts/redkube/files/prometheus-rules.yaml"
	rulesTestPath  = "alerts_test.yaml"
	monitoringDoc  = "../../docs/monitoring.md"
	runbookPrefix  = "https://github.com/redkube/redkube/blob/main/docs/monitoring.md#"
	envToolsBin    = "REDKUBE_TOOLS_BIN"
	severityLabel  = "severity"
	promtoolBinary = "promtool"
)

// promtool returns the promtool of $REDKUBE_TOOLS_BIN, skipping t when the
// variable is unset and failing it when the folder holds no promtool.
func promtool(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envToolsBin)
	if dir == "" {
		t.Skipf("%s is unset: no promtool (run hack/build-tools.sh and export %s=<folder it prints>; make test sets it)", envToolsBin, envToolsBin)
	}
	bin := filepath.Join(dir, promtoolBinary)
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s=%s holds no executable promtool (stat: %v)", envToolsBin, dir, err)
	}
	return bin
}

func TestPromtoolChecksTheRuleFile(t *testing.T) {
	bin := promtool(t)
	out, err := exec.Command(bin, "check", "rules", rulesPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	out, err := exec.Command(bin, "test", "rules", rulesTestPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

func alerts(t *testing.T) []rule {
	t.Helper()
	var rf ruleFile
	readYAML(t, rulesPath, &rf)
	var out []rule
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no alerts", rulesPath)
	}
	return out
}

// anchors returns the GitHub anchors of the headings of a Markdown file.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		out[strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")] = true
	}
	return out
}

func TestEveryAlertHasForSeverityTextAndARunbookSection(t *testing.T) {
	sections := anchors(t, monitoringDoc)
	for _, a := range alerts(t) {
		if a.For == "" {
			t.Errorf("%s has no for:", a.Alert)
		}
		switch a.Labels[severityLabel] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s has severity %q, want critical, warning or info", a.Alert, a.Labels[severityLabel])
		}
		for _, k := range []string{"summary", "description"} {
			if a.Annotations[k] == "" {
				t.Errorf("%s has no %s", a.Alert, k)
			}
		}
		anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbookPrefix)
		if !ok {
			t.Errorf("%s: runbook_url %q does not point into docs/monitoring.md", a.Alert, a.Annotations["runbook_url"])
			continue
		}
		if !sections[anchor] {
			t.Errorf("%s: runbook_url anchor #%s is no heading of docs/monitoring.md", a.Alert, anchor)
		}
	}
}

func TestEveryAlertIsTestedFiringAndNotFiring(t *testing.T) {
	var rt ruleTests
	b, err := os.ReadFile(rulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	// Not strict: the test file has fields (input_series, ...) this check
	// does not read.
	if err := yaml.Unmarshal(b, &rt); err != nil {
		t.Fatalf("decode %s: %v", rulesTestPath, err)
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range rt.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				firing[at.Alertname] = true
			} else {
				silent[at.Alertname] = true
			}
		}
	}
	for _, a := range alerts(t) {
		if !firing[a.Alert] {
			t.Errorf("%s has no case in %s where it fires", a.Alert, rulesTestPath)
		}
		if !silent[a.Alert] {
			t.Errorf("%s has no case in %s where it does not fire", a.Alert, rulesTestPath)
		}
	}
}
