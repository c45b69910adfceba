package backup

import (
	"context"
	"errors"
	"io"
)

// Store holds the objects of one backup (the RDBs and the manifest) under
// one Location. Implementations stream: Put reads r to its end without
// holding the object in memory (the S3 store buffers one multipart part).
type Store interface {
	// Put writes the object name with r's contents. The object appears
	// whole or not at all (a temp file renamed, a multipart upload
	// completed); on error nothing is left under name.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens the object name. A missing object fails with an error
	// matching ErrNotFound.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Delete removes the object name; a missing one is no error.
	Delete(ctx context.Context, name string) error
	// Check verifies the location is usable before anything is written or
	// read: the directory or bucket exists and the credentials are
	// accepted.
	Check(ctx context.Context) error
	// Location is where the store keeps its objects.
	Location() Location
}

// ErrNotFound matches the error of a Get for an object that does not exist
// (a backup without a manifest is incomplete or absent).
var ErrNotFound = errors.New("object not found")
