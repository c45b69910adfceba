package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/redkube/redkube/internal/controller"
)

// ChartOptions configures Env.InstallOperator: `helm upgrade --install`
// of the chart, as a user installs the operator.
type ChartOptions struct {
	// Helm is the helm binary; empty means $REDKUBE_TOOLS_BIN/helm
	// (hack/build-tools.sh's folder, which make test exports).
	Helm string
	// Chart is the chart's folder (charts/redkube).
	Chart string
	// Release and Namespace name the Helm release (default "redkube" in
	// "redkube-system").
	Release, Namespace string
	// Set are --set values (name=value), in order.
	Set []string
	// Timeout bounds helm's --wait for the Deployment (3 minutes when
	// zero).
	Timeout time.Duration
}

func (o ChartOptions) withDefaults() (ChartOptions, error) {
	if o.Helm == "" {
		dir := os.Getenv("REDKUBE_TOOLS_BIN")
		if dir == "" {
			return o, errors.New("no helm: set ChartOptions.Helm or REDKUBE_TOOLS_BIN (hack/build-tools.sh prints it; make test sets it)")
		}
		o.Helm = filepath.Join(dir, "helm")
	}
	if o.Chart == "" {
		return o, errors.New("no chart folder")
	}
	if o.Release == "" {
		o.Release = "redkube"
	}
	if o.Namespace == "" {
		o.Namespace = "redkube-system"
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	return o, nil
}

// inCluster is an operator installed with the chart: its manager pods run
// on the local cluster, found by the release's labels.
type inCluster struct {
	e    *Env
	opts ChartOptions
	// token is a bearer token allowed to read /metrics, made on first use.
	token string
}

// InstallOperator installs the operator with its Helm chart and returns
// once helm's --wait saw the Deployment available and one manager holds
// the leader lease. The returned Operator reads the managers' logs
// through the API and scrapes the leader's HTTPS /metrics with a token;
// it has no process of its own (Pid is 0).
func (e *Env) InstallOperator(ctx context.Context, opts ChartOptions) (*Operator, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &inCluster{e: e, opts: opts}
	began := time.Now()
	if err := c.helm(ctx, "upgrade", "--install"); err != nil {
		return nil, err
	}
	o := &Operator{pods: c}
	if _, err := o.WaitLeader(ctx, time.Minute); err != nil {
		return nil, err
	}
	e.operators = append(e.operators, o)
	e.log.Info("operator installed with its chart", "release", opts.Release, "namespace", opts.Namespace, "took", time.Since(began))
	return o, nil
}

// Upgrade runs `helm upgrade` of the installed release with set added to
// the install's values, waiting as InstallOperator does.
func (o *Operator) Upgrade(ctx context.Context, set ...string) error {
	if o.pods == nil {
		return errors.New("upgrade: the operator was not installed with the chart")
	}
	o.pods.opts.Set = append(o.pods.opts.Set, set...)
	return o.pods.helm(ctx, "upgrade")
}

// helm runs `helm VERB RELEASE CHART` with the options' values, waiting
// for the resources to be ready.
func (c *inCluster) helm(ctx context.Context, verb ...string) error {
	o := c.opts
	args := append(append([]string{}, verb...), o.Release, o.Chart,
		"--namespace", o.Namespace, "--create-namespace", "--wait", "--timeout", o.Timeout.String(),
		"--kubeconfig", c.e.Cluster.Kubeconfig)
	for _, s := range o.Set {
		args = append(args, "--set", s)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Helm, args...)
	home := filepath.Join(c.e.Work, "helm")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("helm %s: %w\n%s\n%s", strings.Join(args, " "), err, out, c.describe(context.WithoutCancel(ctx)))
	}
	return nil
}

// describe says what the manager pods are doing, for an install that
// failed.
func (c *inCluster) describe(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pods, err := c.list(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "pod %s: phase %s on %s\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, s := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s ready=%v restarts=%d state=%+v\n", s.Name, s.Ready, s.RestartCount, s.State)
		}
	}
	b.WriteString(c.logTail(ctx, 20))
	return b.String()
}

// selector selects the release's manager pods.
func (c *inCluster) selector() string {
	return "app.kubernetes.io/instance=" + c.opts.Release + ",app.kubernetes.io/component=operator"
}

// list returns the release's manager pods, by name.
func (c *inCluster) list(ctx context.Context) ([]corev1.Pod, error) {
	l, err := c.e.Clientset.CoreV1().Pods(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: c.selector()})
	if err != nil {
		return nil, fmt.Errorf("list the manager pods: %w", err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items, nil
}

// Namespace is the namespace of an operator installed with the chart,
// "" for one started by StartOperator.
func (o *Operator) Namespace() string {
	if o.pods == nil {
		return ""
	}
	return o.pods.opts.Namespace
}

// Deployment reads the chart's manager Deployment.
func (o *Operator) Deployment(ctx context.Context) (*appsv1.Deployment, error) {
	if o.pods == nil {
		return nil, errors.New("deployment: the operator was not installed with the chart")
	}
	l, err := o.pods.e.Clientset.AppsV1().Deployments(o.pods.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.pods.selector()})
	if err != nil {
		return nil, fmt.Errorf("list the manager Deployment: %w", err)
	}
	if len(l.Items) != 1 {
		return nil, fmt.Errorf("%d manager Deployments for %s, want 1", len(l.Items), o.pods.selector())
	}
	return &l.Items[0], nil
}

// Pods returns the manager pods of an operator installed with the chart.
func (o *Operator) Pods(ctx context.Context) ([]corev1.Pod, error) {
	if o.pods == nil {
		return nil, errors.New("pods: the operator was not installed with the chart")
	}
	return o.pods.list(ctx)
}

// Leader returns the name of the manager pod holding the leader lease
// (controller-runtime's holder identity is "<pod>_<uuid>"), or an error
// when none does.
func (o *Operator) Leader(ctx context.Context) (string, error) {
	if o.pods == nil {
		return "", errors.New("leader: the operator was not installed with the chart")
	}
	l, err := o.pods.e.Clientset.CoordinationV1().Leases(o.pods.opts.Namespace).Get(ctx, controller.LeaderElectionID, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get the leader lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", errors.New("the leader lease has no holder")
	}
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return pod, nil
}

// WaitLeader polls Leader until a manager pod that exists and is not
// being deleted holds the lease, within d.
func (o *Operator) WaitLeader(ctx context.Context, d time.Duration) (string, error) {
	var leader string
	err := Wait(ctx, d, 100*time.Millisecond, "a manager pod holds the leader lease", func(ctx context.Context) error {
		name, err := o.Leader(ctx)
		if err != nil {
			return err
		}
		p, err := o.pods.e.Clientset.CoreV1().Pods(o.pods.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("leader %s: %w", name, err)
		}
		if p.DeletionTimestamp != nil {
			return fmt.Errorf("leader %s is being deleted", name)
		}
		leader = name
		return nil
	})
	return leader, err
}

// logTail returns the last n lines of every manager pod's log, each under
// a heading.
func (c *inCluster) logTail(ctx context.Context, n int) string {
	pods, err := c.list(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods {
		text, err := c.podLog(ctx, p.Name, &corev1.PodLogOptions{TailLines: ptr.To(int64(n))})
		if err != nil {
			text = err.Error()
		}
		fmt.Fprintf(&b, "--- last lines of pod %s ---\n%s\n", p.Name, text)
	}
	return b.String()
}

// logSince returns what every manager pod logged at or after t, the pods'
// logs one after the other.
func (c *inCluster) logSince(ctx context.Context, t time.Time) (string, error) {
	pods, err := c.list(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range pods {
		since := metav1.NewTime(t.Truncate(time.Second))
		text, err := c.podLog(ctx, p.Name, &corev1.PodLogOptions{SinceTime: &since})
		if err != nil {
			return "", err
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

func (c *inCluster) podLog(ctx context.Context, pod string, opts *corev1.PodLogOptions) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := c.e.Clientset.CoreV1().Pods(c.opts.Namespace).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", pod, err)
	}
	defer func() { _ = r.Close() }()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return "", fmt.Errorf("read the logs of %s: %w", pod, err)
	}
	return buf.String(), nil
}

// metricsScraper is the ServiceAccount whose token reads the managers'
// /metrics; the chart's metrics-reader ClusterRole is bound to it.
const metricsScraper = "harness-metrics-scraper"

// scrapeToken returns a token of a ServiceAccount bound to the release's
// metrics-reader ClusterRole, creating both on first use.
func (c *inCluster) scrapeToken(ctx context.Context) (string, error) {
	if c.token != "" {
		return c.token, nil
	}
	cs, ns := c.e.Clientset, c.opts.Namespace
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: metricsScraper, Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create the metrics scraper's ServiceAccount: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: metricsScraper + "-" + c.opts.Release},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: c.opts.Release + "-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: metricsScraper, Namespace: ns}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("bind the metrics reader role: %w", err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, metricsScraper, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of the metrics scraper: %w", err)
	}
	c.token = tr.Status.Token
	return c.token, nil
}

// metrics scrapes the leader's HTTPS /metrics (port 8443) with the
// scraper's token. The manager's certificate is self-signed.
func (c *inCluster) metrics(ctx context.Context, o *Operator) (string, error) {
	token, err := c.scrapeToken(ctx)
	if err != nil {
		return "", err
	}
	leader, err := o.Leader(ctx)
	if err != nil {
		return "", err
	}
	p, err := c.e.Clientset.CoreV1().Pods(c.opts.Namespace).Get(ctx, leader, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("leader %s: %w", leader, err)
	}
	url := "https://" + net.JoinHostPort(p.Status.PodIP, "8443") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("metrics request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's self-signed serving certificate
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}
