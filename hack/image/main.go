package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Exit statuses.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv("SOURCE_DATE_EPOCH"), os.Stdout, os.Stderr))
}

// Defaults of the flags: redkube's operator image. The Dockerfile repeats
// them (dockerfile_test.go checks).
const (
	defaultEntrypoint  = "manager"
	defaultTitle       = "redkube-operator"
	defaultDescription = "redkube: the Redis Cluster operator for Kubernetes (manager) and its Redis metrics exporter"
	defaultSource      = "https://github.com/redkube/redkube"
	defaultLicenses    = "Apache-2.0"
)

// usageError is a bad flag value: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// binaryFlags collects repeated --binary values.
type binaryFlags []Binary

func (b *binaryFlags) String() string { return fmt.Sprint(len(*b), " binaries") }

func (b *binaryFlags) Set(s string) error {
	bin, err := ParseBinary(s)
	if err != nil {
		return err
	}
	*b = append(*b, bin)
	return nil
}

// options are the command line.
type options struct {
	spec   Spec
	tag    string
	output string
}

func parseFlags(args []string, epochEnv string, stderr io.Writer) (options, error) {
	var o options
	var bins binaryFlags
	var epoch string
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&bins, "binary", "a file of one platform's image, OS/ARCH:NAME=PATH (repeatable; every platform needs the same names)")
	fs.StringVar(&o.spec.Entrypoint, "entrypoint", defaultEntrypoint, "name of the binary the image runs")
	fs.StringVar(&o.tag, "tag", "", "image reference the archive names, such as ghcr.io/redkube/redkube-operator:0.1.0 (required)")
	fs.StringVar(&o.output, "output", "", "OCI image-layout tar archive to write (required)")
	fs.StringVar(&o.spec.Metadata.Version, "version", "", "release version for the labels (required)")
	fs.StringVar(&o.spec.Metadata.Revision, "revision", "", "git commit for the labels")
	fs.StringVar(&o.spec.Metadata.Title, "title", defaultTitle, "image title")
	fs.StringVar(&o.spec.Metadata.Description, "description", defaultDescription, "image description")
	fs.StringVar(&o.spec.Metadata.Source, "source", defaultSource, "source repository URL")
	fs.StringVar(&o.spec.Metadata.Licenses, "licenses", defaultLicenses, "SPDX license expression")
	fs.StringVar(&epoch, "source-date-epoch", epochEnv, "creation time and file mtimes, in seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	if err := fs.Parse(args); err != nil {
		return o, &usageError{err}
	}
	if fs.NArg() > 0 {
		return o, &usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	var missing []string
	for name, v := range map[string]string{"--tag": o.tag, "--output": o.output, "--version": o.spec.Metadata.Version} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return o, &usageError{fmt.Errorf("missing %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))}
	}
	if epoch == "" {
		return o, &usageError{errors.New("no creation time: set SOURCE_DATE_EPOCH or --source-date-epoch (make image uses the HEAD commit's time)")}
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || sec < 0 {
		return o, &usageError{fmt.Errorf("source date epoch %q: want seconds since 1970", epoch)}
	}
	o.spec.Metadata.Created = time.Unix(sec, 0).UTC()
	o.spec.Binaries = bins
	return o, nil
}

// run builds the archive and prints the index digest, each platform's
// compressed size and the archive's size; it returns the exit status.
func run(args []string, epochEnv string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, epochEnv, stderr)
	if err == nil {
		err = build(o, stdout)
	}
	if err == nil {
		return 0
	}
	// stderr is the last resort: a failed write there has nowhere to go.
	_, _ = fmt.Fprintln(stderr, "image:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func build(o options, stdout io.Writer) error {
	idx, images, err := Build(o.spec)
	if err != nil {
		return err
	}
	if err := WriteArchive(idx, o.tag, o.output, o.spec.Metadata.Created); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s %s\n", o.tag, digest); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	for _, pi := range images {
		size, err := pullSize(pi.Image)
		if err != nil {
			return fmt.Errorf("platform %s: %w", pi.Platform.String(), err)
		}
		d, err := pi.Image.Digest()
		if err != nil {
			return fmt.Errorf("platform %s: manifest digest: %w", pi.Platform.String(), err)
		}
		if _, err := fmt.Fprintf(stdout, "  %-12s %s  %s compressed (%s)\n", pi.Platform.String(), d, mib(size), strings.Join(pi.Names, ", ")); err != nil {
			return fmt.Errorf("print: %w", err)
		}
	}
	st, err := os.Stat(o.output)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s  %s\n", o.output, mib(st.Size())); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

// pullSize is what pulling img transfers: manifest, config and compressed
// layers.
func pullSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n) }
