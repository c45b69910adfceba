package localkube

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextName is the name of the cluster, user and context in every
// kubeconfig localkube writes.
const contextName = "localkube"

// writeKubeconfig writes a kubeconfig for server that authenticates with the
// client certificate cf and trusts the CA in caFile. The certificate data is
// embedded, so the file stands alone (0600: it holds a private key).
func writeKubeconfig(path, server, caFile string, cf certFiles) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read CA certificate: %w", err)
	}
	crt, err := os.ReadFile(cf.Cert)
	if err != nil {
		return fmt.Errorf("read client certificate: %w", err)
	}
	key, err := os.ReadFile(cf.Key)
	if err != nil {
		return fmt.Errorf("read client key: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict kubeconfig %s: %w", path, err)
	}
	return nil
}

// restConfigFor loads a kubeconfig written by writeKubeconfig.
func restConfigFor(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
