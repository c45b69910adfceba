package backup

import (
	"strings"
	"testing"
)

func TestParseLocationAcceptsFileAndS3URLs(t *testing.T) {
	cases := []struct {
		raw  string
		want Location
	}{
		{"file:///backups/x", Location{Scheme: SchemeFile, Dir: "/backups/x"}},
		{"file://localhost/backups/x/", Location{Scheme: SchemeFile, Dir: "/backups/x"}},
		{"s3://my-bucket", Location{Scheme: SchemeS3, Bucket: "my-bucket"}},
		{"s3://my-bucket/", Location{Scheme: SchemeS3, Bucket: "my-bucket"}},
		{"s3://my.bucket/nightly/2026-12-05/", Location{Scheme: SchemeS3, Bucket: "my.bucket", Prefix: "nightly/2026-12-05"}},
	}
	for _, c := range cases {
		got, err := ParseLocation(c.raw)
		if err != nil || got != c.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", c.raw, got, err, c.want)
		}
	}
}

func TestParseLocationRefusesWhatIsNotABackupLocation(t *testing.T) {
	cases := map[string]string{
		"/backups/x":                 `scheme "" is not file or s3`,
		"http://host/x":              `scheme "http"`,
		"file://backups/x":           `not host "backups"`,
		"file:///":                   "absolute directory below /",
		"file:relative/x":            "without user, query or fragment",
		"s3://Bucket/x":              "lower-case letters",
		"s3://ab/x":                  "3 to 63 characters",
		"s3://-bucket/x":             "starting and ending with a letter or digit",
		"s3://bucket:9000/x":         "names a bucket, not an endpoint",
		"s3://user:pw@bucket/x":      "without user",
		"s3://bucket/x?versionId=1":  "without user, query or fragment",
		"s3://bucket/a/../../b":      "not a clean path",
		"s3://bucket/a//b":           "not a clean path",
		"file:///backups/x#fragment": "fragment",
	}
	for raw, want := range cases {
		_, err := ParseLocation(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLocation(%q): %v, want an error containing %q", raw, err, want)
		}
	}
}

// FuzzParseLocation: an accepted URL renders back to a URL that parses to
// the same location, and a file location is absolute and clean.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"file:///backups/x", "s3://bucket/prefix/a", "s3://b.c-d", "file://localhost/a/../b", "s3://bucket/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		loc, err := ParseLocation(raw)
		if err != nil {
			return
		}
		again, err := ParseLocation(loc.String())
		if err != nil || again != loc {
			t.Fatalf("%q → %+v → %q → %+v, %v", raw, loc, loc.String(), again, err)
		}
		if loc.Scheme == SchemeFile && (!strings.HasPrefix(loc.Dir, "/") || strings.Contains(loc.Dir, "/../")) {
			t.Fatalf("%q: directory %q is not absolute and clean", raw, loc.Dir)
		}
		if loc.Scheme == SchemeS3 && (strings.HasPrefix(loc.Prefix, "/") || strings.HasPrefix(loc.Prefix, "..")) {
			t.Fatalf("%q: prefix %q escapes the bucket", raw, loc.Prefix)
		}
	})
}
