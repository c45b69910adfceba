package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/backup"
)

// errNoBackupResult: the backup pod's log holds no JSON result (rcctl
// printed none, or the log was cut).
var errNoBackupResult = errors.New("the backup pod's log holds no JSON result of rcctl backup")

// backupResult is what a backup Job reports: where it wrote and the
// manifest it wrote last.
type backupResult struct {
	Location string
	Manifest *backup.Manifest
}

// parseBackupLog reads the result `rcctl backup --json` prints on stdout
// from the pod's log, where stderr's lines (notes about shards backed up
// from their master) come before it: the JSON document is the last one
// starting with an unindented line "{". The manifest is decoded and validated by
// pkg/backup, as a restore would read it, so a status is only ever filled
// from a manifest a restore accepts.
func parseBackupLog(log []byte) (backupResult, error) {
	start := -1
	for i := 0; i < len(log); {
		end := bytes.IndexByte(log[i:], '\n')
		if end < 0 {
			end = len(log) - i
		}
		// Nested objects are indented; the document's own brace is not.
		if strings.TrimRight(string(log[i:i+end]), "\r") == "{" {
			start = i
		}
		i += end + 1
	}
	if start < 0 {
		return backupResult{}, errNoBackupResult
	}
	var doc struct {
		Location string          `json:"location"`
		Manifest json.RawMessage `json:"manifest"`
	}
	if err := json.NewDecoder(bytes.NewReader(log[start:])).Decode(&doc); err != nil {
		return backupResult{}, fmt.Errorf("parse the result of rcctl backup: %w", err)
	}
	if doc.Location == "" || len(doc.Manifest) == 0 || string(doc.Manifest) == "null" {
		return backupResult{}, fmt.Errorf("the result of rcctl backup has no location or no manifest: %w", errNoBackupResult)
	}
	m, err := backup.DecodeManifest(bytes.NewReader(doc.Manifest))
	if err != nil {
		return backupResult{}, fmt.Errorf("the manifest rcctl backup reported: %w", err)
	}
	if len(m.Shards) == 0 {
		return backupResult{}, errors.New("the manifest rcctl backup reported has no shard")
	}
	return backupResult{Location: doc.Location, Manifest: m}, nil
}

// succeededStatus fills a backup's status from its result: the location,
// every shard's object, the totals and the duration (the manifest's start
// to end). It leaves phase, times and conditions to the caller.
func succeededStatus(st *redisv1alpha1.RedisClusterBackupStatus, r backupResult) {
	m := r.Manifest
	st.Location = r.Location
	st.Keys, st.Size = m.TotalKeys(), m.TotalSize()
	st.Duration = m.Finished.Sub(m.Started).Round(time.Millisecond).String()
	st.Shards = make([]redisv1alpha1.BackupShardStatus, 0, len(m.Shards))
	for _, sh := range m.Shards {
		st.Shards = append(st.Shards, redisv1alpha1.BackupShardStatus{
			MasterID: string(sh.MasterID), SourceNode: sh.SourceAddr, Role: string(sh.SourceRole),
			Slots: sh.Slots.String(), Keys: sh.Keys, Object: sh.Object, Size: sh.Size, SHA256: sh.SHA256,
		})
	}
}

// failureCause is the cause of a failed backup from the terminated
// container's message (its log's tail, FallbackToLogsOnError): rcctl's
// last non-empty line, its error. fallback is used when there is none.
func failureCause(message, fallback string) string {
	lines := strings.Split(strings.TrimSpace(message), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return fallback
}

// setBackupCondition sets the Complete condition of a backup for its
// generation.
func setBackupCondition(b *redisv1alpha1.RedisClusterBackup, ok bool, reason redisv1alpha1.ConditionReason, msg string, now metav1.Time) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{
		Type: string(redisv1alpha1.ConditionBackupComplete), Status: status, Reason: string(reason), Message: msg,
		ObservedGeneration: b.Generation, LastTransitionTime: now,
	})
}
