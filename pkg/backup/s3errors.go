package backup

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/minio/minio-go/v7"
)

// Errors of the S3 store, matched with errors.Is.
var (
	// ErrCredentials: the service refused the access key or signature, or
	// denied access.
	ErrCredentials = errors.New("credentials refused")
	// ErrNoBucket: the bucket does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrEndpoint: the endpoint could not be reached or did not answer as
	// S3.
	ErrEndpoint = errors.New("endpoint unreachable")
)

// explain names the cause of an S3 error and wraps the sentinel that
// classifies it. ctx is the caller's: a deadline that passed while it had
// not ended was the store's own CallTimeout.
func (s *S3Store) explain(ctx context.Context, op, key string, err error) error {
	what := s.loc.Bucket
	if key != "" {
		what += "/" + key
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("s3 %s %s: endpoint %s did not answer within %s: %w: %w", op, what, s.endpoint, s.callMax, ErrEndpoint, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code != "" {
		switch resp.Code {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
			return fmt.Errorf("s3 %s %s at %s: %s (%s): %w", op, what, s.endpoint, resp.Code, resp.Message, ErrCredentials)
		case "NoSuchBucket":
			return fmt.Errorf("s3 %s: bucket %q does not exist at %s: %w", op, s.loc.Bucket, s.endpoint, ErrNoBucket)
		case "NoSuchKey":
			return fmt.Errorf("s3 %s %s: %w", op, what, ErrNotFound)
		}
		return fmt.Errorf("s3 %s %s at %s: %s: %s: %w", op, what, s.endpoint, resp.Code, resp.Message, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("s3 %s %s: endpoint %s: %w: %w", op, what, s.endpoint, ErrEndpoint, err)
	}
	return fmt.Errorf("s3 %s %s at %s: %w", op, what, s.endpoint, err)
}
