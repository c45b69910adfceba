package s3env

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/redkube/redkube/internal/proc"
)

// EnvBin names the variable holding the folder with the weed binary.
const EnvBin = "REDKUBE_S3_BIN"

// Credentials of the one identity the server accepts (full access).
const (
	AccessKey = "redkube-test"
	SecretKey = "redkube-test-secret"
)

// startTimeout bounds the server's start (master, volume, filer, S3).
const startTimeout = 60 * time.Second

// Server is a running weed server with its S3 gateway.
type Server struct {
	// Endpoint is the S3 endpoint URL, http://127.0.0.1:<port>.
	Endpoint string
	// Dir holds the server's data and log.
	Dir  string
	proc *proc.Process
}

// Binary returns the weed binary of $REDKUBE_S3_BIN, skipping tb when the
// variable is unset and failing it when the folder holds no weed.
func Binary(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(EnvBin)
	if dir == "" {
		tb.Skipf("%s is unset: no S3 server (run hack/build-s3.sh and export %s=<folder it prints>; make test sets it)", EnvBin, EnvBin)
	}
	bin := filepath.Join(dir, "weed")
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		tb.Fatalf("%s=%s holds no executable weed (stat: %v)", EnvBin, dir, err)
	}
	return bin
}

// Start runs a weed server with an S3 gateway on loopback, waits until
// it answers S3 requests with the test credentials, and stops it in
// tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartOn(tb, "127.0.0.1")
}

// StartOn is Start with every listener on ip instead of loopback: the
// address of a pod network's gateway on this host, for instance, so that
// pods reach the server.
func StartOn(tb testing.TB, ip string) *Server {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(identities), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		tb.Fatal(err)
	}
	ports, err := freePorts(ip, 8)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Endpoint: "http://" + net.JoinHostPort(ip, strconv.Itoa(ports[6])), Dir: dir}
	s.proc, err = proc.Start(bin, args(dir, ip, ports), proc.Options{Name: "weed server", LogPath: filepath.Join(dir, "weed.log")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.stop(tb, ports) })
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := s.Client(tb, AccessKey, SecretKey)
	if err := s.proc.WaitReady(ctx, func(ctx context.Context) error {
		_, err := c.ListBuckets(ctx)
		return err
	}); err != nil {
		tb.Fatalf("s3env: %v", err)
	}
	return s
}

// identities is the S3 gateway's identity configuration: one identity
// with full access.
var identities = `{"identities":[{"name":"redkube-test","credentials":[{"accessKey":"` + AccessKey + `","secretKey":"` + SecretKey + `"}],"actions":["Admin","Read","Write","List","Tagging"]}]}`

// args are weed server's flags: every listener on ip on the given
// ports (master, volume, filer, S3, each HTTP and gRPC), no telemetry,
// no Iceberg catalog.
func args(dir, ip string, p []int) []string {
	port := func(i int) string { return strconv.Itoa(p[i]) }
	return []string{
		"server", "-ip=" + ip, "-ip.bind=" + ip, "-dir=" + filepath.Join(dir, "data"),
		"-master.port=" + port(0), "-master.port.grpc=" + port(1), "-master.telemetry=false",
		"-master.volumeSizeLimitMB=64", "-volume.max=20",
		"-volume.port=" + port(2), "-volume.port.grpc=" + port(3),
		"-filer", "-filer.port=" + port(4), "-filer.port.grpc=" + port(5),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + port(6), "-s3.port.grpc=" + port(7), "-s3.port.iceberg=0",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.config=" + filepath.Join(dir, "s3.json"),
	}
}

// stop ends the server and removes the gRPC unix sockets weed leaves in
// the system's temp directory (named by port).
func (s *Server) stop(tb testing.TB, ports []int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.proc.Stop(ctx, 10*time.Second); err != nil {
		tb.Logf("s3env: stop weed: %v", err)
	}
	if tb.Failed() {
		tb.Logf("weed log tail:\n%s", proc.Tail(s.proc.LogPath(), 30))
	}
	for _, kind := range []string{"master", "volume", "filer", "s3"} {
		for _, p := range ports {
			_ = os.Remove(filepath.Join(os.TempDir(), fmt.Sprintf("seaweedfs-%s-grpc-%d.sock", kind, p))) // absent for most
		}
	}
}

// Client returns a minio-go client of the server with the given
// credentials (for test setup and assertions).
func (s *Server) Client(tb testing.TB, access, secret string) *minio.Client {
	tb.Helper()
	c, err := minio.New(s.Endpoint[len("http://"):], &minio.Options{
		Creds: credentials.NewStaticV4(access, secret, ""), Secure: false, BucketLookup: minio.BucketLookupPath, MaxRetries: 1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(tb testing.TB, bucket string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Client(tb, AccessKey, SecretKey).MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		tb.Fatalf("make bucket %s: %v", bucket, err)
	}
}

// Objects lists the object names under prefix in bucket.
func (s *Server) Objects(tb testing.TB, bucket, prefix string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var names []string
	for o := range s.Client(tb, AccessKey, SecretKey).ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			tb.Fatalf("list %s/%s: %v", bucket, prefix, o.Err)
		}
		names = append(names, o.Key)
	}
	return names
}

// freePorts returns n distinct free TCP ports on ip.
func freePorts(ip string, n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close() // only held to keep the ports distinct
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
