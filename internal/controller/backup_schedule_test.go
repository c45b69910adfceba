package controller

import (
	"slices"
	"testing"
	"time"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
)

func TestPlanSchedule(t *testing.T) {
	hourly, err := parseSchedule("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	ok := func(h int) scheduledBackup {
		return scheduledBackup{Name: ScheduledBackupName("c", at(h)), At: at(h), Phase: redisv1alpha1.BackupSucceeded}
	}
	failed := func(h int) scheduledBackup {
		b := ok(h)
		b.Phase = redisv1alpha1.BackupFailed
		return b
	}
	running := func(h int) scheduledBackup {
		b := ok(h)
		b.Phase = redisv1alpha1.BackupRunning
		return b
	}
	name := func(h int) string { return ScheduledBackupName("c", at(h)) }
	cases := []struct {
		name       string
		now        time.Time
		since      time.Time
		backups    []scheduledBackup
		keep       int
		maxAge     time.Duration
		suspend    bool
		wantCreate string
		wantDelete []string
		wantWait   bool
	}{
		{name: "makes nothing before the first time after the cluster exists", now: at(0).Add(30 * time.Minute), since: at(0).Add(time.Minute), keep: 3},
		{name: "makes the first backup at the first time", now: at(1).Add(time.Second), since: at(0).Add(time.Minute), keep: 3, wantCreate: name(1)},
		{name: "makes nothing twice for the same time", now: at(1).Add(time.Minute), since: at(0), backups: []scheduledBackup{ok(1)}, keep: 3},
		{name: "makes only the latest of several missed times", now: at(5).Add(time.Minute), since: at(0), backups: []scheduledBackup{ok(1)}, keep: 9, wantCreate: name(5)},
		{name: "waits while a backup runs", now: at(2).Add(time.Second), since: at(0), backups: []scheduledBackup{running(1)}, keep: 3, wantWait: true},
		{name: "makes nothing while suspended", now: at(2).Add(time.Second), since: at(0), backups: []scheduledBackup{ok(1)}, keep: 3, suspend: true},
		{name: "keeps the newest succeeded backups and deletes the oldest first", now: at(5).Add(time.Second), since: at(0),
			backups: []scheduledBackup{ok(1), ok(2), ok(3), ok(4)}, keep: 2, wantCreate: name(5), wantDelete: []string{name(1), name(2)}},
		{name: "a failed backup does not count towards keep and goes once it is not among the newest", now: at(5).Add(time.Second), since: at(0),
			backups: []scheduledBackup{ok(1), failed(2), ok(3), failed(4)}, keep: 2, wantCreate: name(5), wantDelete: []string{name(2)}},
		{name: "max age deletes old backups but never the newest succeeded one", now: at(30), since: at(0),
			backups: []scheduledBackup{ok(1), ok(2), failed(29)}, keep: 5, maxAge: 24 * time.Hour, wantCreate: name(30), wantDelete: []string{name(1)}},
		{name: "a running backup is never deleted", now: at(5).Add(time.Second), since: at(0),
			backups: []scheduledBackup{running(1), ok(2), ok(3)}, keep: 1, wantDelete: []string{name(2)}, wantWait: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planSchedule(scheduleInput{Now: c.now, Schedule: hourly, Since: c.since, Cluster: "c", Backups: c.backups, Keep: c.keep, MaxAge: c.maxAge, Suspend: c.suspend})
			if p.Create != c.wantCreate {
				t.Errorf("create %q, want %q", p.Create, c.wantCreate)
			}
			if !slices.Equal(p.Delete, c.wantDelete) {
				t.Errorf("delete %v, want %v", p.Delete, c.wantDelete)
			}
			if (p.Waiting != "") != c.wantWait {
				t.Errorf("waiting for %q, want waiting %v", p.Waiting, c.wantWait)
			}
			if !p.Next.After(c.now) || p.Next.Sub(c.now) > time.Hour {
				t.Errorf("next %v is not the next hour after %v", p.Next, c.now)
			}
		})
	}
}

func TestParseScheduleRefusesBadExpressions(t *testing.T) {
	for _, expr := range []string{"", "every hour", "61 * * * *", "* * * *", "CRON_TZ=Europe/Paris 0 * * * *"} {
		if _, err := parseSchedule(expr); err == nil {
			t.Errorf("parseSchedule(%q) accepted it", expr)
		}
	}
	for _, expr := range []string{"*/5 * * * *", "@daily", "@every 90s"} {
		if _, err := parseSchedule(expr); err != nil {
			t.Errorf("parseSchedule(%q): %v", expr, err)
		}
	}
}

func TestScheduledNamesFitTheBackupNameLimit(t *testing.T) {
	n := ScheduledBackupName("c234567890123456789012345678901234567890", time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	if len(n) > 56 {
		t.Errorf("%q has %d characters, a backup name at most 56", n, len(n))
	}
	if n[len(n)-14:] != "20261205100000" {
		t.Errorf("%q does not end in the UTC time", n)
	}
}
