package backup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// S3Options configure the connection to S3-compatible storage.
type S3Options struct {
	// Endpoint is the service URL, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://127.0.0.1:8333. A bare host:port means https.
	Endpoint string
	// AccessKey, SecretKey and SessionToken are the credentials; all
	// empty means anonymous access.
	AccessKey, SecretKey, SessionToken string
	// Region is the bucket's region (empty: asked of the service).
	Region string
	// PathStyle forces path-style requests (http://host/bucket/key), which
	// most self-hosted services need; otherwise the client decides.
	PathStyle bool
	// TLSConfig, when not nil, is used for https endpoints (a private CA,
	// or InsecureSkipVerify).
	TLSConfig *tls.Config
	// SSE selects server-side encryption: "" (none), "AES256" (SSE-S3) or
	// "aws:kms" (SSE-KMS with SSEKMSKeyID).
	SSE         string
	SSEKMSKeyID string
	// DialTimeout bounds connecting to the endpoint (default 10 s).
	DialTimeout time.Duration
	// CallTimeout bounds each small request (bucket check, object
	// metadata, delete), retries included, so an endpoint that accepts
	// connections and never answers fails fast (default 30 s). Uploads
	// and downloads are bounded by the caller's context and by a 2 minute
	// wait for response headers.
	CallTimeout time.Duration
	// MaxRetries is how often a failed request is retried (default 3).
	MaxRetries int
	// PartSize is the multipart part size, the memory one upload holds
	// (default 16 MiB).
	PartSize uint64
}

// SSE modes of S3Options.SSE.
const (
	SSES3  = "AES256"
	SSEKMS = "aws:kms"
)

// S3Store keeps a backup's objects under a bucket and prefix of
// S3-compatible storage. Uploads are multipart with unknown length: only
// one part (PartSize) is in memory at a time.
type S3Store struct {
	loc      Location
	client   *minio.Client
	sse      encrypt.ServerSide
	partSize uint64
	endpoint string
	callMax  time.Duration
}

// NewS3Store connects (lazily: no request is sent) to the store of an s3
// location.
func NewS3Store(loc Location, o S3Options) (*S3Store, error) {
	if loc.Scheme != SchemeS3 {
		return nil, fmt.Errorf("s3 store: location %s is not an s3 URL", loc)
	}
	host, secure, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	sse, err := serverSide(o)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	var creds *credentials.Credentials
	if o.AccessKey != "" || o.SecretKey != "" {
		creds = credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken)
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    transport(o),
		MaxRetries:   o.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %q: %w", o.Endpoint, err)
	}
	return &S3Store{loc: loc, client: c, sse: sse, partSize: o.PartSize, endpoint: o.Endpoint, callMax: o.CallTimeout}, nil
}

// parseEndpoint splits an endpoint URL into host:port and whether it uses
// TLS.
func parseEndpoint(ep string) (string, bool, error) {
	if ep == "" {
		return "", false, errors.New("s3: no endpoint (give one, e.g. https://s3.us-east-1.amazonaws.com)")
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		u, err = url.Parse("https://" + ep)
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("s3 endpoint %q: want http(s)://host[:port] without a path", ep)
	}
	return u.Host, u.Scheme == "https", nil
}

// serverSide builds the encryption option.
func serverSide(o S3Options) (encrypt.ServerSide, error) {
	switch o.SSE {
	case "":
		if o.SSEKMSKeyID != "" {
			return nil, errors.New("s3: a KMS key ID needs SSE aws:kms")
		}
		return nil, nil
	case SSES3:
		return encrypt.NewSSE(), nil
	case SSEKMS:
		sse, err := encrypt.NewSSEKMS(o.SSEKMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("s3: SSE-KMS: %w", err)
		}
		return sse, nil
	default:
		return nil, fmt.Errorf("s3: server-side encryption %q is not %q or %q", o.SSE, SSES3, SSEKMS)
	}
}

// transport is an HTTP transport with a bounded dial and TLS handshake.
func transport(o S3Options) http.RoundTripper {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.TLSHandshakeTimeout = o.DialTimeout
	t.ResponseHeaderTimeout = 2 * time.Minute
	if o.TLSConfig != nil {
		t.TLSClientConfig = o.TLSConfig.Clone()
	}
	return t
}

// Location returns the store's location.
func (s *S3Store) Location() Location { return s.loc }

func (s *S3Store) key(name string) string {
	if s.loc.Prefix == "" {
		return name
	}
	return path.Join(s.loc.Prefix, name)
}

// Check asks whether the bucket exists: it fails on refused credentials,
// a missing bucket and an unreachable endpoint, each named.
func (s *S3Store) Check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.callMax)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, s.loc.Bucket)
	if err != nil {
		return s.explain(ctx, "check bucket", "", err)
	}
	if !ok {
		return fmt.Errorf("s3 bucket %q does not exist at %s: %w", s.loc.Bucket, s.endpoint, ErrNoBucket)
	}
	return nil
}

// Put uploads name from r as a multipart upload of unknown length; a
// failed upload is aborted by the client, so no object appears.
func (s *S3Store) Put(ctx context.Context, name string, r io.Reader) error {
	_, err := s.client.PutObject(ctx, s.loc.Bucket, s.key(name), r, -1, minio.PutObjectOptions{
		PartSize:             s.partSize,
		ServerSideEncryption: s.sse,
		ContentType:          "application/octet-stream",
	})
	if err != nil {
		return s.explain(ctx, "put", s.key(name), err)
	}
	return nil
}

// Get opens name. The first read, not Get, meets most errors of a GET in
// minio-go, so Get asks for the object's metadata first to name a missing
// object (ErrNotFound) or refused credentials here.
func (s *S3Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key := s.key(name)
	cctx, cancel := context.WithTimeout(ctx, s.callMax)
	defer cancel()
	if _, err := s.client.StatObject(cctx, s.loc.Bucket, key, minio.StatObjectOptions{}); err != nil {
		return nil, s.explain(ctx, "get", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.loc.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.explain(ctx, "get", key, err)
	}
	return obj, nil
}

// Delete removes name; a missing object is no error.
func (s *S3Store) Delete(ctx context.Context, name string) error {
	cctx, cancel := context.WithTimeout(ctx, s.callMax)
	defer cancel()
	if err := s.client.RemoveObject(cctx, s.loc.Bucket, s.key(name), minio.RemoveObjectOptions{}); err != nil {
		return s.explain(ctx, "delete", s.key(name), err)
	}
	return nil
}
