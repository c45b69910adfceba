package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redkube/redkube/internal/podexec"
)

// ensureVolumes prepares every volume of the pod once (until it succeeds):
// files for ConfigMap/Secret/downward API/projected sources, folders for
// emptyDir, the PV's directory for a PVC. The error names the first volume
// that failed, in kubelet's words.
func (w *podWorker) ensureVolumes(ctx context.Context) error {
	if w.volumes != nil {
		return nil
	}
	vols := map[string]string{}
	for _, v := range w.pod.Spec.Volumes {
		p, err := w.setUpVolume(ctx, v)
		if err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		vols[v.Name] = p
	}
	w.volumes = vols
	w.volumesAt = time.Now()
	return nil
}

// refreshVolumes rewrites the file volumes (ConfigMap, Secret, downward
// API, projected) once they are older than Config.VolumeRefreshInterval, as kubelet's
// periodic sync does, so updates reach running containers (not through
// subPath mounts, as in Kubernetes). Failures keep the old files.
func (w *podWorker) refreshVolumes(ctx context.Context) {
	every := w.a.cfg.VolumeRefreshInterval
	if w.volumes == nil || time.Since(w.volumesAt) < every {
		w.wakeAt(w.volumesAt.Add(every))
		return
	}
	w.volumesAt = time.Now()
	for _, v := range w.pod.Spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil {
			continue
		}
		files, mode, err := w.volumeFiles(ctx, v)
		if err == nil {
			err = writeFiles(w.volumeDir(v.Name), files, mode)
		}
		if err == nil {
			err = w.applyFSGroup(w.volumeDir(v.Name), true)
		}
		if err != nil {
			w.a.log.Warn("volume refresh failed", "pod", w.key(), "volume", v.Name, "err", err)
		}
	}
	w.wakeAt(w.volumesAt.Add(every))
}

func (w *podWorker) volumeDir(name string) string {
	return filepath.Join(w.dir, "volumes", name)
}

func (w *podWorker) setUpVolume(ctx context.Context, v corev1.Volume) (string, error) {
	dir := w.volumeDir(v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", fmt.Errorf("create emptyDir: %w", err)
		}
		return dir, w.applyFSGroup(dir, false)
	case v.HostPath != nil:
		t := corev1.HostPathUnset
		if v.HostPath.Type != nil {
			t = *v.HostPath.Type
		}
		if t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
				return "", fmt.Errorf("create hostPath %s: %w", v.HostPath.Path, err)
			}
		} else if _, err := os.Stat(v.HostPath.Path); err != nil && t != corev1.HostPathUnset {
			return "", fmt.Errorf("hostPath type check failed: %s: %w", v.HostPath.Path, err)
		}
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		p, local, err := w.pvcPath(ctx, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return "", err
		}
		// Kubelet's local volume plugin applies the fsGroup (unless the
		// volume is read-only); its hostPath plugin does not.
		if local && !v.PersistentVolumeClaim.ReadOnly {
			return p, w.applyFSGroup(p, false)
		}
		return p, nil
	case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
		files, mode, err := w.volumeFiles(ctx, v)
		if err != nil {
			return "", err
		}
		if err := writeFiles(dir, files, mode); err != nil {
			return "", err
		}
		return dir, w.applyFSGroup(dir, true)
	}
	return "", fmt.Errorf("volume type not supported by the redkube node agent")
}

// applyFSGroup gives the volume folder dir to the pod's fsGroup, if it has
// one (setVolumeOwnership).
func (w *podWorker) applyFSGroup(dir string, readOnly bool) error {
	g := fsGroup(w.pod)
	if g == nil {
		return nil
	}
	return setVolumeOwnership(dir, *g, readOnly)
}

// pvcPath resolves a claim to its bound PV's directory; local says the PV
// is a local volume (not a hostPath one).
func (w *podWorker) pvcPath(ctx context.Context, claim string) (path string, local bool, err error) {
	pvc, err := w.node.client.CoreV1().PersistentVolumeClaims(w.ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", false, fmt.Errorf("get persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", false, fmt.Errorf("persistentvolumeclaim %q is not bound (phase %s)", claim, pvc.Status.Phase)
	}
	pv, err := w.node.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", false, fmt.Errorf("get persistentvolume %q: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		path = pv.Spec.HostPath.Path
		if t := pv.Spec.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return "", false, fmt.Errorf("create hostPath %s of persistentvolume %q: %w", path, pv.Name, err)
			}
		}
	case pv.Spec.Local != nil:
		path, local = pv.Spec.Local.Path, true
	default:
		return "", false, fmt.Errorf("persistentvolume %q has no hostPath or local source", pv.Name)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", false, fmt.Errorf("directory of persistentvolume %q: %w", pv.Name, err)
	}
	if !st.IsDir() {
		return "", false, fmt.Errorf("persistentvolume %q path %s is not a directory", pv.Name, path)
	}
	return path, local, nil
}

type volFile struct {
	data []byte
	mode *int32
	// uid, when set, owns the file (a token of the pod's fsUser).
	uid *int64
}

// volumeFiles collects the files of a ConfigMap, Secret, downward API or
// projected volume.
func (w *podWorker) volumeFiles(ctx context.Context, v corev1.Volume) (map[string]volFile, int32, error) {
	files := map[string]volFile{}
	switch {
	case v.ConfigMap != nil:
		src := v.ConfigMap
		if err := w.configMapFiles(ctx, files, src.Name, src.Items, src.Optional); err != nil {
			return nil, 0, err
		}
		return files, modeOr(src.DefaultMode, 0o644), nil
	case v.Secret != nil:
		src := v.Secret
		if err := w.secretFiles(ctx, files, src.SecretName, src.Items, src.Optional); err != nil {
			return nil, 0, err
		}
		return files, modeOr(src.DefaultMode, 0o644), nil
	case v.DownwardAPI != nil:
		if err := w.downwardFiles(files, v.DownwardAPI.Items); err != nil {
			return nil, 0, err
		}
		return files, modeOr(v.DownwardAPI.DefaultMode, 0o644), nil
	}
	p := v.Projected
	for _, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = w.configMapFiles(ctx, files, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional)
		case s.Secret != nil:
			err = w.secretFiles(ctx, files, s.Secret.Name, s.Secret.Items, s.Secret.Optional)
		case s.DownwardAPI != nil:
			err = w.downwardFiles(files, s.DownwardAPI.Items)
		case s.ServiceAccountToken != nil:
			err = w.tokenFile(ctx, files, s.ServiceAccountToken, modeOr(p.DefaultMode, 0o644))
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return files, modeOr(p.DefaultMode, 0o644), nil
}

func modeOr(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

func (w *podWorker) configMapFiles(ctx context.Context, files map[string]volFile, name string, items []corev1.KeyToPath, optional *bool) error {
	cm, err := w.node.client.CoreV1().ConfigMaps(w.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional != nil && *optional {
				return nil
			}
			return fmt.Errorf("configmap %q not found", name)
		}
		return fmt.Errorf("get configmap %q: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project(files, data, items, optional, "configmap", name)
}

func (w *podWorker) secretFiles(ctx context.Context, files map[string]volFile, name string, items []corev1.KeyToPath, optional *bool) error {
	s, err := w.node.client.CoreV1().Secrets(w.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional != nil && *optional {
				return nil
			}
			return fmt.Errorf("secret %q not found", name)
		}
		return fmt.Errorf("get secret %q: %w", name, err)
	}
	return project(files, s.Data, items, optional, "secret", name)
}

func project(files map[string]volFile, data map[string][]byte, items []corev1.KeyToPath, optional *bool, kind, name string) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = volFile{data: v}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("configuration error: key %q not found in %s %q", it.Key, kind, name)
		}
		files[it.Path] = volFile{data: v, mode: it.Mode}
	}
	return nil
}

func (w *podWorker) downwardFiles(files map[string]volFile, items []corev1.DownwardAPIVolumeFile) error {
	for _, it := range items {
		var v string
		switch {
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.labels":
			v = formatMap(w.pod.Labels)
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.annotations":
			v = formatMap(w.pod.Annotations)
		case it.FieldRef != nil:
			var err error
			if v, err = w.fieldValue(it.FieldRef.FieldPath); err != nil {
				return err
			}
		case it.ResourceFieldRef != nil:
			c := corev1.Container{}
			for _, cs := range w.pod.Spec.Containers {
				if cs.Name == it.ResourceFieldRef.ContainerName {
					c = cs
				}
			}
			var err error
			if v, err = w.resourceValue(c, it.ResourceFieldRef); err != nil {
				return err
			}
		}
		files[it.Path] = volFile{data: []byte(v), mode: it.Mode}
	}
	return nil
}

func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

// tokenFile requests a bound service account token for the pod. As with
// kubelet, the file has the volume's defaultMode, unless the pod's
// containers share one runAsUser (the file is then that user's, mode
// 0600) or the pod has an fsGroup (mode 0600, which the fsGroup ownership
// opens to the group).
func (w *podWorker) tokenFile(ctx context.Context, files map[string]volFile, src *corev1.ServiceAccountTokenProjection, defaultMode int32) error {
	owner := fsUser(w.pod)
	mode := defaultMode
	if owner != nil || fsGroup(w.pod) != nil {
		mode = 0o600
	}
	// Tokens live for an hour or more; a new one every refresh is waste.
	if tok, ok := w.tokens[src.Path]; ok && !tok.needsRefresh(time.Now()) {
		files[src.Path] = volFile{data: tok.data, mode: &mode, uid: owner}
		return nil
	}
	sa := w.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: w.pod.Name, UID: w.pod.UID},
	}}
	if src.Audience != "" {
		tr.Spec.Audiences = []string{src.Audience}
	}
	got, err := w.node.client.CoreV1().ServiceAccounts(w.ns).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("request token for service account %q: %w", sa, err)
	}
	files[src.Path] = volFile{data: []byte(got.Status.Token), mode: &mode, uid: owner}
	if w.tokens == nil {
		w.tokens = map[string]cachedToken{}
	}
	w.tokens[src.Path] = cachedToken{data: []byte(got.Status.Token), at: time.Now(), expires: got.Status.ExpirationTimestamp.Time}
	return nil
}

// tokenMaxAge is the age at which a projected service account token is
// replaced even if it is valid for longer (kubelet's 24 hours).
const tokenMaxAge = 24 * time.Hour

// cachedToken is a service account token written to a projected volume.
type cachedToken struct {
	data    []byte
	at      time.Time // requested then
	expires time.Time // the API server's expirationTimestamp
}

// needsRefresh applies kubelet's rule: a token is replaced once 80 % of
// its lifetime has passed, or when it is older than tokenMaxAge.
func (t cachedToken) needsRefresh(now time.Time) bool {
	age := now.Sub(t.at)
	return age > tokenMaxAge || age > t.expires.Sub(t.at)*8/10
}

func sortStrings(s []string) { slices.Sort(s) }

// writeFiles makes dir hold exactly files. The folder itself is kept (a
// running container may have it bind-mounted); stale entries are removed.
func writeFiles(dir string, files map[string]volFile, mode int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create volume folder: %w", err)
	}
	keep := map[string]bool{}
	for rel := range files {
		top, _, _ := strings.Cut(filepath.Clean("/" + rel)[1:], "/")
		keep[top] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list volume folder: %w", err)
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale %s: %w", e.Name(), err)
			}
		}
	}
	for rel, f := range files {
		clean := filepath.Clean("/" + rel)[1:]
		if clean == "" {
			return fmt.Errorf("invalid file path %q", rel)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", rel, err)
		}
		m := mode
		if f.mode != nil {
			m = *f.mode
		}
		// Write and rename, so a reader never sees half a file.
		tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p))
		if err := os.WriteFile(tmp, f.data, os.FileMode(m)&0o777); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
		if err := os.Chmod(tmp, os.FileMode(m)&0o777); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
		if f.uid != nil {
			if err := os.Lchown(tmp, int(*f.uid), -1); err != nil {
				return fmt.Errorf("give %s to user %d: %w", rel, *f.uid, err)
			}
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("replace %s: %w", rel, err)
		}
	}
	return nil
}

// mountsFor lists the bind mounts of a container: its volumeMounts plus the
// pod's hosts and resolv.conf files.
func (w *podWorker) mountsFor(spec corev1.Container) ([]podexec.Mount, error) {
	var out []podexec.Mount
	for _, vm := range spec.VolumeMounts {
		src, ok := w.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of mount %s is not defined in the pod", vm.Name, vm.MountPath)
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, filepath.Clean("/" + vm.SubPath)[1:])
			if _, err := os.Stat(src); err != nil {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("create subPath %s: %w", vm.SubPath, err)
				}
			}
		}
		out = append(out, podexec.Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || w.readOnlyVolume(vm.Name)})
	}
	out = append(out,
		podexec.Mount{Source: filepath.Join(w.dir, "hosts"), Target: "/etc/hosts"},
		podexec.Mount{Source: filepath.Join(w.dir, "resolv.conf"), Target: "/etc/resolv.conf"},
	)
	return out, nil
}

// readOnlyVolume reports volumes kubelet always mounts read-only.
func (w *podWorker) readOnlyVolume(name string) bool {
	for _, v := range w.pod.Spec.Volumes {
		if v.Name == name {
			return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
		}
	}
	return false
}
