package localkube

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Identities of the control-plane clients. They match the names Kubernetes'
// bootstrap RBAC policy binds (system:kube-controller-manager,
// system:kube-scheduler) and the Node authorizer's convention for nodes.
const (
	adminUser             = "localkube-admin"
	mastersGroup          = "system:masters"
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	nodesGroup            = "system:nodes"
	nodeUserPrefix        = "system:node:"
	apiserverEtcdUser     = "kube-apiserver-etcd-client"
	// KubeletClientUser is the identity kube-apiserver presents to the
	// node agent's kubelet endpoints (kubeadm's name for it); the agent
	// accepts no other client.
	KubeletClientUser = "kube-apiserver-kubelet-client"
)

// certValidity is how long every certificate of a local cluster is valid. A
// local cluster lives for minutes to days; a year keeps a long-running `up`
// from outliving its certificates.
const certValidity = 365 * 24 * time.Hour

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certSpec describes one certificate to issue.
type certSpec struct {
	commonName    string
	organizations []string
	dnsNames      []string
	ips           []net.IP
	usages        []x509.ExtKeyUsage
}

// newKey returns a fresh ECDSA P-256 key: fast to generate, accepted by every
// component (including as the service-account signing key, ES256).
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA key: %w", err)
	}
	return k, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

// subjectKeyID is the SHA-256 based key identifier of RFC 7093, method 1.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// newCA creates a self-signed certificate authority valid from now.
func newCA(commonName string, now time.Time) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate %q: %w", commonName, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}

// issue signs a leaf certificate for spec with ca.
func (ca *keyPair) issue(spec certSpec, now time.Time) (*keyPair, error) {
	if len(spec.usages) == 0 {
		return nil, fmt.Errorf("certificate %q: no extended key usage", spec.commonName)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.commonName, Organization: spec.organizations},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", spec.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %q: %w", spec.commonName, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}

// certPEM returns the PEM encoding of the certificate.
func (kp *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
}

// keyPEM returns the PEM encoding (PKCS #8) of the private key.
func (kp *keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key of %q: %w", kp.cert.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// certFiles are the paths of a certificate and its key on disk.
type certFiles struct {
	Cert string
	Key  string
}

// write stores the pair as <dir>/<name>.crt and <dir>/<name>.key (0600).
func (kp *keyPair) write(dir, name string) (certFiles, error) {
	f := certFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	keyPEM, err := kp.keyPEM()
	if err != nil {
		return certFiles{}, err
	}
	if err := os.WriteFile(f.Cert, kp.certPEM(), 0o644); err != nil {
		return certFiles{}, fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(f.Key, keyPEM, 0o600); err != nil {
		return certFiles{}, fmt.Errorf("write private key: %w", err)
	}
	return f, nil
}

// pki is the set of files a cluster's components are started with.
type pki struct {
	Dir string
	CA  certFiles
	// caPair is kept to issue more certificates (for example per-node client
	// certificates) after the first generation.
	caPair *keyPair

	APIServer         certFiles // serving certificate of kube-apiserver
	EtcdServer        certFiles // serving certificate of etcd
	APIServerEtcd     certFiles // client certificate kube-apiserver presents to etcd
	ComponentsServing certFiles // serving certificate of controller-manager and scheduler
	Admin             certFiles // system:masters client certificate
	ControllerManager certFiles
	Scheduler         certFiles
	Nodes             map[string]certFiles // system:node:<name> client certificates
	KubeletClient     certFiles            // client certificate kube-apiserver presents to kubelets
	// KubeletServing holds per node the serving certificate of the node
	// agent's kubelet endpoint for that node.
	KubeletServing map[string]certFiles

	// FrontProxyCA is the CA the API server trusts for request-header
	// (front proxy) authentication. Its key is discarded: no client can
	// authenticate that way, and the components find the bundle they look
	// for in kube-system/extension-apiserver-authentication.
	FrontProxyCA string

	// ServiceAccountKey and ServiceAccountPub sign and verify service-account
	// tokens.
	ServiceAccountKey string
	ServiceAccountPub string
}

// pkiSpec lists what generatePKI must cover.
type pkiSpec struct {
	// apiServerIPs are the addresses clients reach the API server on.
	apiServerIPs []net.IP
	// apiServerNames are the DNS names clients reach the API server by.
	apiServerNames []string
	// nodes get a client certificate and a kubelet serving certificate
	// each.
	nodes []string
	// kubeletIPs are the addresses the API server dials kubelet endpoints
	// on (the nodes' InternalIP); kubelet serving certificates cover them.
	kubeletIPs []net.IP
}

// generatePKI creates a new CA and every certificate and key of a cluster in
// dir (created 0700).
func generatePKI(dir string, spec pkiSpec, now time.Time) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create PKI directory: %w", err)
	}
	ca, err := newCA("localkube-ca", now)
	if err != nil {
		return nil, err
	}
	p := &pki{Dir: dir, caPair: ca, Nodes: make(map[string]certFiles, len(spec.nodes)), KubeletServing: make(map[string]certFiles, len(spec.nodes))}
	if p.CA, err = ca.write(dir, "ca"); err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}

	frontProxy, err := newCA("localkube-front-proxy-ca", now)
	if err != nil {
		return nil, err
	}
	p.FrontProxyCA = filepath.Join(dir, "front-proxy-ca.crt")
	if err := os.WriteFile(p.FrontProxyCA, frontProxy.certPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("write front-proxy CA: %w", err)
	}

	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	leaves := []struct {
		name string
		dst  *certFiles
		spec certSpec
	}{
		{"apiserver", &p.APIServer, certSpec{commonName: "kube-apiserver", dnsNames: spec.apiServerNames, ips: spec.apiServerIPs, usages: server}},
		// etcd's serving certificate is also used by etcd as a client of
		// itself (gRPC gateway), so it carries both usages.
		{"etcd-server", &p.EtcdServer, certSpec{commonName: "etcd", dnsNames: []string{"localhost"}, ips: loopback, usages: both}},
		{"apiserver-etcd-client", &p.APIServerEtcd, certSpec{commonName: apiserverEtcdUser, usages: client}},
		{"components-serving", &p.ComponentsServing, certSpec{commonName: "localkube-components", dnsNames: []string{"localhost"}, ips: loopback, usages: server}},
		{"admin", &p.Admin, certSpec{commonName: adminUser, organizations: []string{mastersGroup}, usages: client}},
		{"controller-manager", &p.ControllerManager, certSpec{commonName: controllerManagerUser, usages: client}},
		{"scheduler", &p.Scheduler, certSpec{commonName: schedulerUser, usages: client}},
		{"apiserver-kubelet-client", &p.KubeletClient, certSpec{commonName: KubeletClientUser, usages: client}},
	}
	for _, l := range leaves {
		kp, err := ca.issue(l.spec, now)
		if err != nil {
			return nil, err
		}
		if *l.dst, err = kp.write(dir, l.name); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	for _, n := range spec.nodes {
		if err := p.addNode(n, now); err != nil {
			return nil, err
		}
		if err := p.addKubeletServing(n, spec.kubeletIPs, now); err != nil {
			return nil, err
		}
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := writeServiceAccountKeys(dir, saKey, p); err != nil {
		return nil, err
	}
	return p, nil
}

// addNode issues the client certificate of node name: user system:node:<name>
// in group system:nodes, the identity the Node authorizer and the
// NodeRestriction admission plugin recognise.
func (p *pki) addNode(name string, now time.Time) error {
	if p.caPair == nil {
		return errors.New("PKI has no CA key to issue node certificates")
	}
	kp, err := p.caPair.issue(certSpec{
		commonName:    nodeUserPrefix + name,
		organizations: []string{nodesGroup},
		usages:        []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, now)
	if err != nil {
		return err
	}
	f, err := kp.write(p.Dir, "node-"+name)
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	p.Nodes[name] = f
	return nil
}

// addKubeletServing issues the serving certificate of node name's kubelet
// endpoint, valid for the node's name, loopback and ips, as a kubelet's
// serving certificate is for its node's addresses.
func (p *pki) addKubeletServing(name string, ips []net.IP, now time.Time) error {
	kp, err := p.caPair.issue(certSpec{
		commonName:    nodeUserPrefix + name,
		organizations: []string{nodesGroup},
		dnsNames:      []string{name, "localhost"},
		ips:           append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
		usages:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, now)
	if err != nil {
		return err
	}
	f, err := kp.write(p.Dir, "kubelet-"+name)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate of node %s: %w", name, err)
	}
	p.KubeletServing[name] = f
	return nil
}

func writeServiceAccountKeys(dir string, key *ecdsa.PrivateKey, p *pki) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("marshal service-account public key: %w", err)
	}
	p.ServiceAccountKey = filepath.Join(dir, "sa.key")
	p.ServiceAccountPub = filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(p.ServiceAccountKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write service-account key: %w", err)
	}
	if err := os.WriteFile(p.ServiceAccountPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return fmt.Errorf("write service-account public key: %w", err)
	}
	return nil
}
