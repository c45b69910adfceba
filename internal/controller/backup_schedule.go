package controller

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

// scheduleTimeFormat is the UTC time in a scheduled backup's name.
const scheduleTimeFormat = "20060102150405"

// maxMissedRuns bounds the walk over the schedule's past times when the
// last backup is long ago (a schedule every minute after a week is 10,080
// times); beyond it the walk restarts from the bound.
const maxMissedRuns = 100000

// scheduledBackup is what the schedule knows of one of its backups.
type scheduledBackup struct {
	Name string
	// At is the schedule time the backup was made for.
	At    time.Time
	Phase redisv1alpha1.BackupPhase
	// Deleting is set once the backup is being deleted.
	Deleting bool
}

// schedulePlan is what one pass of the schedule does.
type schedulePlan struct {
	// Create is the backup to make now ("" for none), for time CreateAt.
	Create   string
	CreateAt time.Time
	// Delete are the backups retention removes, oldest first.
	Delete []string
	// Next is the schedule's next time after now: when to look again.
	Next time.Time
	// Waiting is set when a due backup waits for a running one.
	Waiting string
}

// scheduleInput is planSchedule's input.
type scheduleInput struct {
	Now      time.Time
	Schedule cron.Schedule
	// Since is when the schedule started counting: the cluster's
	// creation, so a new cluster is first backed up at the first
	// schedule time after it exists.
	Since   time.Time
	Cluster string
	Backups []scheduledBackup
	Keep    int
	// MaxAge is 0 for no age limit.
	MaxAge  time.Duration
	Suspend bool
}

// planSchedule decides one pass of a backup schedule. A backup is due
// when a schedule time after the newest scheduled backup (or after Since)
// has passed; missed times are not made up: only the latest due time is
// backed up. Nothing is made while a scheduled backup runs (two forks of
// the same shards at once). Retention keeps the newest Keep succeeded
// backups and the failed ones among the newest Keep backups, and with
// MaxAge nothing older except the newest succeeded backup; running and
// pending backups are never deleted.
func planSchedule(in scheduleInput) schedulePlan {
	bs := append([]scheduledBackup(nil), in.Backups...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].At.After(bs[j].At) }) // newest first
	last := in.Since
	running := ""
	for _, b := range bs {
		if b.At.After(last) {
			last = b.At
		}
		if !b.Phase.Terminal() && !b.Deleting {
			running = b.Name
		}
	}
	var p schedulePlan
	due := latestDue(in.Schedule, last, in.Now)
	switch {
	case due.IsZero() || in.Suspend:
	case running != "":
		p.Waiting = running
	default:
		p.Create, p.CreateAt = ScheduledBackupName(in.Cluster, due), due
	}
	p.Next = in.Schedule.Next(in.Now)
	p.Delete = retention(bs, in.Now, in.Keep, in.MaxAge)
	return p
}

// latestDue is the latest schedule time after last and at or before now,
// zero when none.
func latestDue(s cron.Schedule, last, now time.Time) time.Time {
	var due time.Time
	for range maxMissedRuns {
		t := s.Next(last)
		if t.IsZero() || t.After(now) {
			return due
		}
		due, last = t, t
	}
	return due
}

// retention returns the backups to delete from bs (newest first), oldest
// first.
func retention(bs []scheduledBackup, now time.Time, keep int, maxAge time.Duration) []string {
	var del []string
	succeeded := 0
	newestGood := ""
	for i, b := range bs {
		if b.Deleting || !b.Phase.Terminal() {
			continue
		}
		var drop bool
		if b.Phase == redisv1alpha1.BackupSucceeded {
			succeeded++
			if newestGood == "" {
				newestGood = b.Name
			}
			drop = succeeded > keep
		} else {
			drop = i >= keep
		}
		if maxAge > 0 && now.Sub(b.At) > maxAge && b.Name != newestGood {
			drop = true
		}
		if drop {
			del = append(del, b.Name)
		}
	}
	for i, j := 0, len(del)-1; i < j; i, j = i+1, j-1 {
		del[i], del[j] = del[j], del[i]
	}
	return del
}

// ScheduledBackupName is the name of the backup the schedule of cluster
// makes for time at: <cluster>-<yyyymmddhhmmss> in UTC.
func ScheduledBackupName(cluster string, at time.Time) string {
	return cluster + "-" + at.UTC().Format(scheduleTimeFormat)
}

// parseSchedule parses a cron expression of spec.backup.schedule, in UTC.
func parseSchedule(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("spec.backup.schedule %q: %w", expr, err)
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "TZ=") || strings.HasPrefix(strings.TrimSpace(expr), "CRON_TZ=") {
		return nil, fmt.Errorf("spec.backup.schedule %q: a time zone is not supported, the schedule is in UTC", expr)
	}
	return s, nil
}

// scheduledLocation is where a scheduled backup is written: below the
// schedule's url, in a folder named after the backup.
func scheduledLocation(url, name string) string {
	return strings.TrimRight(url, "/") + "/" + name
}
