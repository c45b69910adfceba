package planner

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// spreadShards builds shards from "master:candidate hosts" specs, such as
// "a:bc" (master on a, replicas that may take over on b and c); candidate
// IDs are numbered across shards.
func spreadShards(specs ...string) []SpreadShard {
	out := make([]SpreadShard, len(specs))
	n := 0
	for i, spec := range specs {
		master, cands, _ := strings.Cut(spec, ":")
		out[i].MasterHost = master
		for _, h := range cands {
			out[i].Candidates = append(out[i].Candidates, SpreadCandidate{ID: nodeID(n), Host: string(h)})
			n++
		}
	}
	return out
}

// handovers renders a path as "shard>host" hops.
func handovers(path []Handover) string {
	var parts []string
	for _, h := range path {
		parts = append(parts, fmt.Sprintf("%d>%s", h.Shard, h.Host))
	}
	return strings.Join(parts, " ")
}

func TestSpreadMasters(t *testing.T) {
	tests := []struct {
		name   string
		shards []SpreadShard
		hosts  int
		want   string // the path's hops, first first
		host   string // the overfull host
	}{
		{
			name:   "finds nothing when every host holds its share",
			shards: spreadShards("a:b", "b:c", "c:a"),
			hosts:  3,
		},
		{
			name:   "finds nothing when the masters' share is more than one each",
			shards: spreadShards("a:b", "a:b", "b:a"),
			hosts:  2,
		},
		{
			name:   "hands an overfull host's master directly to a replica on a host below its share",
			shards: spreadShards("a:c", "a:b", "c:a"),
			hosts:  3,
			want:   "1>b",
			host:   "a",
		},
		{
			name:   "makes room through a chain when every direct handover lands on a full host",
			shards: spreadShards("a:b", "a:b", "b:c"),
			hosts:  3,
			want:   "2>c 0>b",
			host:   "a",
		},
		{
			name:   "follows a longer chain",
			shards: spreadShards("a:b", "a:b", "b:c", "c:d"),
			hosts:  4,
			want:   "3>d 2>c 0>b",
			host:   "a",
		},
		{
			name:   "finds nothing when no chain reaches a host below its share",
			shards: spreadShards("a:b", "a:b", "b:a"),
			hosts:  3,
		},
		{
			name:   "never hands a master to a replica on its own host",
			shards: spreadShards("a:a", "a:a", "b:"),
			hosts:  3,
		},
		{
			name:   "finds nothing while a master's host is unknown",
			shards: spreadShards("a:b", "a:b", ":c"),
			hosts:  3,
		},
		{
			name:  "finds nothing without hosts",
			hosts: 0, shards: spreadShards("a:b", "a:b"),
		},
		{
			name:   "tries the overfull hosts in name order",
			shards: spreadShards("b:c", "b:c", "a:d", "a:d", "x:", "y:"),
			hosts:  6,
			want:   "2>d",
			host:   "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := SpreadMasters(tt.shards, tt.hosts)
			if got := handovers(sp.Path); got != tt.want || sp.Host != tt.host {
				t.Fatalf("path %q off host %q, want %q off %q", got, sp.Host, tt.want, tt.host)
			}
			if len(sp.Path) > 0 {
				checkSpread(t, tt.shards, tt.hosts, sp)
			}
		})
	}
}

func TestSpreadMastersProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 17))
	found := 0
	for i := range 2000 {
		hosts := 1 + r.IntN(5)
		shards := make([]SpreadShard, 1+r.IntN(8))
		n := 0
		for s := range shards {
			shards[s].MasterHost = fmt.Sprintf("h%d", r.IntN(hosts))
			for range r.IntN(3) {
				shards[s].Candidates = append(shards[s].Candidates, SpreadCandidate{ID: nodeID(n), Host: fmt.Sprintf("h%d", r.IntN(hosts))})
				n++
			}
		}
		sp := SpreadMasters(shards, hosts)
		if len(sp.Path) == 0 {
			if h, ok := reachableRoom(shards, hosts); ok {
				t.Fatalf("case %d: no path, but a chain of handovers takes a master off %s: %+v", i, h, shards)
			}
			continue
		}
		found++
		checkSpread(t, shards, hosts, sp)
	}
	if found == 0 {
		t.Error("no random case needed a handover")
	}
}

// checkSpread applies sp's handovers in order and checks that each hands a
// shard's master role to one of its candidates, that no host rises above
// the larger of what it held and the limit, and that the overfull host
// ends with one master less, every other host but the last hop's as it
// was.
func checkSpread(t *testing.T, shards []SpreadShard, hosts int, sp Spread) {
	t.Helper()
	perHost, where := map[string]int{}, make([]string, len(shards))
	for i, sh := range shards {
		perHost[sh.MasterHost]++
		where[i] = sh.MasterHost
	}
	before := map[string]int{}
	for h, c := range perHost {
		before[h] = c
	}
	limit := (len(shards) + hosts - 1) / hosts
	if sp.Limit != limit || sp.Masters != before[sp.Host] || sp.Masters <= limit {
		t.Fatalf("spread off %s holding %d with limit %d, want an overfull host and limit %d", sp.Host, sp.Masters, sp.Limit, limit)
	}
	used := map[int]bool{}
	for k, h := range sp.Path {
		if used[h.Shard] {
			t.Fatalf("hop %d hands shard %d over a second time", k, h.Shard)
		}
		used[h.Shard] = true
		ok := false
		for _, c := range shards[h.Shard].Candidates {
			ok = ok || (c.ID == h.To && c.Host == h.Host)
		}
		if !ok {
			t.Fatalf("hop %d hands shard %d to %s on %s, not one of its candidates", k, h.Shard, h.To.Short(), h.Host)
		}
		perHost[where[h.Shard]]--
		perHost[h.Host]++
		where[h.Shard] = h.Host
		for host, c := range perHost {
			if c > max(before[host], limit) {
				t.Fatalf("hop %d raises %s to %d masters (held %d, limit %d)", k, host, c, before[host], limit)
			}
		}
	}
	last := sp.Path[0].Host
	for host, c := range perHost {
		want := before[host]
		switch host {
		case sp.Host:
			want--
		case last:
			want++
		}
		if c != want {
			t.Errorf("%s ends with %d masters, want %d (path %s off %s)", host, c, want, handovers(sp.Path), sp.Host)
		}
	}
}

// reachableRoom reports whether some overfull host reaches a host below
// the limit through handovers (master on h to a candidate on h'), by a
// search of its own, and which.
func reachableRoom(shards []SpreadShard, hosts int) (string, bool) {
	perHost := map[string]int{}
	for _, sh := range shards {
		perHost[sh.MasterHost]++
	}
	limit := (len(shards) + hosts - 1) / hosts
	for from, c := range perHost {
		if c <= limit {
			continue
		}
		seen, queue := map[string]bool{from: true}, []string{from}
		for len(queue) > 0 {
			h := queue[0]
			queue = queue[1:]
			for _, sh := range shards {
				if sh.MasterHost != h {
					continue
				}
				for _, cand := range sh.Candidates {
					if seen[cand.Host] {
						continue
					}
					if perHost[cand.Host] < limit {
						return from, true
					}
					seen[cand.Host] = true
					queue = append(queue, cand.Host)
				}
			}
		}
	}
	return "", false
}
