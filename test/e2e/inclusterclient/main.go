// Command inclusterclient is a Kubernetes client for inside a pod, run by
// the end-to-end test of in-cluster configuration (test/e2e
// TestManagerRunsAsAPod): it loads rest.InClusterConfig (the
// KUBERNETES_SERVICE_* variables, the service account token and CA the
// node agent projects), then prints one line per fact:
//
//	host https://10.96.0.1:443
//	user system:serviceaccount:<namespace>:<name>
//	dns kubernetes.default.svc 10.96.0.1
//	list pods in <namespace>: ok | Forbidden | <error>
//
// with a "list" line for each RESOURCE/NAMESPACE argument (core group
// resources). It exits 1 only when the configuration cannot be loaded or
// the client cannot be built; the test judges the lines.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "inclusterclient:", err)
		os.Exit(1)
	}
}

func run(targets []string) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster configuration: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Println("host", cfg.Host)
	if r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
		fmt.Println("user error:", err)
	} else {
		fmt.Println("user", r.Status.UserInfo.Username)
	}
	if ips, err := net.DefaultResolver.LookupHost(ctx, "kubernetes.default.svc"); err != nil {
		fmt.Println("dns kubernetes.default.svc error:", err)
	} else {
		fmt.Println("dns kubernetes.default.svc", strings.Join(ips, ","))
	}
	for _, t := range targets {
		resource, ns, ok := strings.Cut(t, "/")
		if !ok {
			return fmt.Errorf("argument %q: want RESOURCE/NAMESPACE", t)
		}
		err := cs.CoreV1().RESTClient().Get().Namespace(ns).Resource(resource).Do(ctx).Error()
		switch {
		case err == nil:
			fmt.Printf("list %s in %s: ok\n", resource, ns)
		case apierrors.IsForbidden(err):
			fmt.Printf("list %s in %s: Forbidden\n", resource, ns)
		default:
			fmt.Printf("list %s in %s: %v\n", resource, ns, err)
		}
	}
	return nil
}
