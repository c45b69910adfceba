package backup

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// Scheme is the kind of storage a Location names.
type Scheme string

// Schemes a Location may have.
const (
	// SchemeFile is a directory on a local or mounted filesystem
	// (file:///backups/x).
	SchemeFile Scheme = "file"
	// SchemeS3 is a bucket and key prefix on S3-compatible storage
	// (s3://bucket/prefix).
	SchemeS3 Scheme = "s3"
)

// Location is a parsed backup URL.
type Location struct {
	// Scheme is file or s3.
	Scheme Scheme
	// Dir is the absolute directory of a file location.
	Dir string
	// Bucket and Prefix name an s3 location; Prefix has no leading or
	// trailing slash and may be empty (the bucket's root).
	Bucket, Prefix string
}

// String renders the location as a URL.
func (l Location) String() string {
	if l.Scheme == SchemeFile {
		return (&url.URL{Scheme: "file", Path: l.Dir}).String()
	}
	u := &url.URL{Scheme: "s3", Host: l.Bucket}
	if l.Prefix != "" {
		u.Path = "/" + l.Prefix
	}
	return u.String()
}

// ParseLocation parses file:///absolute/dir or s3://bucket[/prefix]. A
// file URL with a host other than localhost, a relative path, or a query,
// and an s3 URL with an invalid bucket name, a query, a user or a port
// are refused.
func ParseLocation(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("backup location %q: %w", raw, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return Location{}, fmt.Errorf("backup location %q: want file:///dir or s3://bucket/prefix without user, query or fragment", raw)
	}
	if strings.ContainsFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return Location{}, fmt.Errorf("backup location %q: the path contains a control character or backslash", raw)
	}
	switch Scheme(u.Scheme) {
	case SchemeFile:
		return parseFile(raw, u)
	case SchemeS3:
		return parseS3(raw, u)
	default:
		return Location{}, fmt.Errorf("backup location %q: scheme %q is not file or s3", raw, u.Scheme)
	}
}

func parseFile(raw string, u *url.URL) (Location, error) {
	if u.Host != "" && u.Host != "localhost" {
		return Location{}, fmt.Errorf("backup location %q: a file URL names a local directory (file:///dir), not host %q", raw, u.Host)
	}
	if !strings.HasPrefix(u.Path, "/") || filepath.Clean(u.Path) == "/" {
		return Location{}, fmt.Errorf("backup location %q: want an absolute directory below / (file:///backups/x)", raw)
	}
	return Location{Scheme: SchemeFile, Dir: filepath.Clean(u.Path)}, nil
}

func parseS3(raw string, u *url.URL) (Location, error) {
	if u.Port() != "" {
		return Location{}, fmt.Errorf("backup location %q: s3://bucket/prefix names a bucket, not an endpoint (give the endpoint separately)", raw)
	}
	if err := validBucket(u.Host); err != nil {
		return Location{}, fmt.Errorf("backup location %q: %w", raw, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if clean := path.Clean(prefix); clean != prefix || strings.HasPrefix(clean, "..") || strings.Contains(prefix, "/../") {
			return Location{}, fmt.Errorf("backup location %q: prefix %q is not a clean path", raw, prefix)
		}
	}
	return Location{Scheme: SchemeS3, Bucket: u.Host, Prefix: prefix}, nil
}

// validBucket applies S3's bucket naming rules: 3 to 63 characters of
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q: a bucket name has 3 to 63 characters", b)
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' && r != '.' || i == 0 || i == len(b)-1) {
			return fmt.Errorf("bucket %q: use lower-case letters, digits, '.' and '-', starting and ending with a letter or digit", b)
		}
	}
	return nil
}
