package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// SpecHash returns the hash of obj as it would be serialized without the
// AnnotationSpecHash annotation: 16 hex digits of a SHA-256 over its JSON.
// Two objects hash the same exactly when they serialize the same apart from
// that annotation.
func SpecHash(obj runtime.Object) (string, error) {
	c := obj.DeepCopyObject()
	m, err := meta.Accessor(c)
	if err != nil {
		return "", fmt.Errorf("hash %T: %w", obj, err)
	}
	if ann := m.GetAnnotations(); ann != nil {
		delete(ann, AnnotationSpecHash)
		if len(ann) == 0 {
			ann = nil
		}
		m.SetAnnotations(ann)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("hash %T %s: marshal: %w", obj, m.GetName(), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// SpecHashOf returns the AnnotationSpecHash annotation of obj ("" when absent).
func SpecHashOf(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetAnnotations()[AnnotationSpecHash]
}

// NeedsUpdate reports whether live (as read from the API server) differs from
// desired (as returned by a builder) according to their spec-hash
// annotations. A live object without the annotation always needs an update.
func NeedsUpdate(live, desired runtime.Object) bool {
	l := SpecHashOf(live)
	return l == "" || l != SpecHashOf(desired)
}

// stampSpecHash sets AnnotationSpecHash on obj to SpecHash(obj).
func stampSpecHash(obj runtime.Object) error {
	h, err := SpecHash(obj)
	if err != nil {
		return err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("stamp hash on %T: %w", obj, err)
	}
	ann := m.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationSpecHash] = h
	m.SetAnnotations(ann)
	return nil
}
