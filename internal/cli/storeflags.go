package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/redkube/redkube/pkg/backup"
)

// Environment variables the S3 flags fall back to, as the AWS CLI and SDKs
// read them.
const (
	envS3Endpoint      = "AWS_ENDPOINT_URL_S3"
	envEndpoint        = "AWS_ENDPOINT_URL"
	envRegion          = "AWS_REGION"
	envDefaultRegion   = "AWS_DEFAULT_REGION"
	envAccessKey       = "AWS_ACCESS_KEY_ID"
	envSecretKey       = "AWS_SECRET_ACCESS_KEY"
	envSessionToken    = "AWS_SESSION_TOKEN"
	defaultPartSizeMiB = 16
)

// storeOptions are the flags that say where a backup lives and how to
// reach S3. Secrets are only ever read from the environment.
type storeOptions struct {
	endpoint, region           string
	accessKeyEnv, secretKeyEnv string
	pathStyle                  bool
	ca                         string
	insecureSkipVerify         bool
	sse, kmsKeyID              string
	partSizeMiB                int
}

func (s *storeOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.endpoint, "s3-endpoint", "", "S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:8333 (default $"+envS3Endpoint+", then $"+envEndpoint+")")
	f.StringVar(&s.region, "s3-region", "", "bucket region (default $"+envRegion+", then $"+envDefaultRegion+"; empty: asked of the service)")
	f.StringVar(&s.accessKeyEnv, "s3-access-key-env", envAccessKey, "read the S3 access key ID from this environment variable")
	f.StringVar(&s.secretKeyEnv, "s3-secret-key-env", envSecretKey, "read the S3 secret access key from this environment variable ($"+envSessionToken+" is used when set)")
	f.BoolVar(&s.pathStyle, "s3-path-style", false, "path-style requests (http://host/bucket/key), which most self-hosted S3 services need")
	f.StringVar(&s.ca, "s3-ca", "", "PEM file with the CA certificates of an https endpoint")
	f.BoolVar(&s.insecureSkipVerify, "s3-insecure-skip-verify", false, "do not verify the endpoint's TLS certificate")
	f.StringVar(&s.sse, "s3-sse", "", "server-side encryption of uploaded objects: AES256 (SSE-S3) or aws:kms (SSE-KMS)")
	f.StringVar(&s.kmsKeyID, "s3-sse-kms-key-id", "", "KMS key ID for --s3-sse aws:kms")
	f.IntVar(&s.partSizeMiB, "s3-part-size", defaultPartSizeMiB, "multipart upload part size in MiB, the memory one upload holds (5 to 5120)")
}

// s3FlagNames are the flags that only make sense with an s3:// location.
var s3FlagNames = []string{"s3-endpoint", "s3-region", "s3-access-key-env", "s3-secret-key-env", "s3-path-style", "s3-ca", "s3-insecure-skip-verify", "s3-sse", "s3-sse-kms-key-id", "s3-part-size"}

// store parses the location flag's URL and opens its store. Bad values
// are usage errors; nothing is contacted.
// timeout bounds connecting to the endpoint.
func (s *storeOptions) store(cmd *cobra.Command, flag, raw string, timeout time.Duration) (backup.Store, error) {
	if raw == "" {
		return nil, usageErrorf("%s is required: file:///dir or s3://bucket/prefix", flag)
	}
	loc, err := backup.ParseLocation(raw)
	if err != nil {
		return nil, usageErrorf("%s: %v", flag, err)
	}
	if loc.Scheme == backup.SchemeFile {
		for _, n := range s3FlagNames {
			if cmd.Flags().Changed(n) {
				return nil, usageErrorf("--%s: only for an s3:// location, not %s", n, raw)
			}
		}
		return backup.NewFileStore(loc)
	}
	o, err := s.s3Options()
	if err != nil {
		return nil, err
	}
	o.DialTimeout, o.CallTimeout = timeout, timeout
	st, err := backup.NewS3Store(loc, o)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return st, nil
}

// s3Options resolves the S3 flags and their environment fallbacks.
func (s *storeOptions) s3Options() (backup.S3Options, error) {
	o := backup.S3Options{
		Endpoint:  firstNonEmpty(s.endpoint, os.Getenv(envS3Endpoint), os.Getenv(envEndpoint)),
		Region:    firstNonEmpty(s.region, os.Getenv(envRegion), os.Getenv(envDefaultRegion)),
		PathStyle: s.pathStyle, SSE: s.sse, SSEKMSKeyID: s.kmsKeyID,
		AccessKey: os.Getenv(s.accessKeyEnv), SecretKey: os.Getenv(s.secretKeyEnv), SessionToken: os.Getenv(envSessionToken),
	}
	if o.Endpoint == "" {
		return o, usageErrorf("an s3:// location needs --s3-endpoint (or $%s): no default endpoint is assumed", envS3Endpoint)
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		return o, usageErrorf("S3 credentials: $%s and $%s must be set together (or neither, for anonymous access)", s.accessKeyEnv, s.secretKeyEnv)
	}
	if s.partSizeMiB < 5 || s.partSizeMiB > 5120 {
		return o, usageErrorf("--s3-part-size %d: must be 5 to 5120 (MiB)", s.partSizeMiB)
	}
	o.PartSize = uint64(s.partSizeMiB) << 20
	if s.ca != "" || s.insecureSkipVerify {
		tc, err := s3TLS(s.ca, s.insecureSkipVerify)
		if err != nil {
			return o, err
		}
		o.TLSConfig = tc
	}
	return o, nil
}

// s3TLS builds the TLS configuration of an https endpoint.
func s3TLS(caFile string, skip bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skip} //nolint:gosec // explicit user request
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read --s3-ca %s: %w", caFile, pathErrCause(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read --s3-ca %s: no PEM certificate found", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
