package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClassifyServerMessages(t *testing.T) {
	cases := []struct {
		name   string
		msg    string
		kind   Kind
		slot   int
		target string
	}{
		{"moved carries slot and target", "MOVED 3999 127.0.0.1:6381", KindMoved, 3999, "127.0.0.1:6381"},
		{"ask carries slot and target", "ASK 12 10.0.0.1:7000", KindAsk, 12, "10.0.0.1:7000"},
		{"tryagain", "TRYAGAIN Multiple keys request during rehashing of slot", KindTryAgain, -1, ""},
		{"clusterdown", "CLUSTERDOWN Hash slot not served", KindClusterDown, -1, ""},
		{"loading", "LOADING Redis is loading the dataset in memory", KindLoading, -1, ""},
		{"busykey", "BUSYKEY Target key name already exists.", KindBusyKey, -1, ""},
		{"busykey forwarded by migrate", "ERR Target instance replied with error: BUSYKEY Target key name already exists.", KindBusyKey, -1, ""},
		{"not cluster mode", "ERR This instance has cluster support disabled", KindNotClusterMode, -1, ""},
		{"setslot on a replica", "ERR Please use SETSLOT only with masters.", KindNotMaster, -1, ""},
		{"password required", "NOAUTH Authentication required.", KindAuth, -1, ""},
		{"wrong password", "WRONGPASS invalid username-password pair or user is disabled.", KindAuth, -1, ""},
		{"password sent to a node that requires none", "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", KindAuth, -1, ""},
		{"other server error", "ERR Unknown node abc", KindServer, -1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, slot, target := classify(c.msg)
			if k != c.kind || slot != c.slot || target != c.target {
				t.Fatalf("classify(%q) = %v %d %q, want %v %d %q", c.msg, k, slot, target, c.kind, c.slot, c.target)
			}
		})
	}
}

func TestWrapNonServerErrorIsUnreachableAndKeepsContextError(t *testing.T) {
	err := wrap("127.0.0.1:7001", "PING", fmt.Errorf("dial: %w", context.DeadlineExceeded))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("%v is not ErrUnreachable", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v lost context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrMoved) {
		t.Fatalf("%v matches ErrMoved", err)
	}
	want := "redisadmin: 127.0.0.1:7001: PING: dial: context deadline exceeded"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
	if wrap("a", "b", nil) != nil {
		t.Fatal("wrap(nil) is not nil")
	}
}
