package localkube_test

import (
	"context"
	"testing"
	"time"

	"github.com/redkube/redkube/internal/localkube"
	"github.com/redkube/redkube/internal/localkube/localkubetest"
)

// BenchmarkStart measures a whole Start (PKI, four processes, nodes,
// provisioner, heartbeat agent) and reports the control plane's resident
// memory once it is ready and after it has idled for 10s.
//
//	go test -run '^$' -bench Start -benchtime 3x ./internal/localkube
func BenchmarkStart(b *testing.B) {
	binDir := localkubetest.SkipIfNoBinaries(b)
	var rssReady, rssIdle uint64
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		c, err := localkube.Start(ctx, localkube.Options{BinDir: binDir, NodeAgent: localkube.HeartbeatAgent})
		cancel()
		if err != nil {
			b.Fatalf("Start: %v", err)
		}
		b.StopTimer()
		rss, err := c.ControlPlaneRSS()
		if err != nil {
			b.Fatal(err)
		}
		rssReady += rss
		time.Sleep(10 * time.Second)
		if rss, err = c.ControlPlaneRSS(); err != nil {
			b.Fatal(err)
		}
		rssIdle += rss
		if err := c.Stop(context.Background()); err != nil {
			b.Fatalf("Stop: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rssReady)/float64(b.N)/(1<<20), "MiB-rss-ready")
	b.ReportMetric(float64(rssIdle)/float64(b.N)/(1<<20), "MiB-rss-idle10s")
}
