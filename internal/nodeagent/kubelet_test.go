package nodeagent

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseLogLine(t *testing.T) {
	ts := time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.UTC)
	cases := []struct {
		name, line  string
		wantTS      time.Time
		wantStream  string
		wantContent string
	}{
		{"a full CRI line ends with a newline", "2026-11-25T17:00:00.123456789Z stdout F hello world", ts, "stdout", "hello world\n"},
		{"a partial CRI line has none", "2026-11-25T17:00:00.123456789Z stderr P part", ts, "stderr", "part"},
		{"an empty full line is a newline", "2026-11-25T17:00:00.123456789Z stdout F ", ts, "stdout", "\n"},
		{"a raw line is stdout without a time", "just output", time.Time{}, "stdout", "just output\n"},
		{"a raw line that starts like a time stays raw", "2026-11-25T17:00:00Z something else", time.Time{}, "stdout", "2026-11-25T17:00:00Z something else\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := parseLogLine([]byte(c.line))
			if !e.ts.Equal(c.wantTS) || e.stream != c.wantStream || string(e.content) != c.wantContent {
				t.Errorf("parseLogLine(%q) = %v %s %q", c.line, e.ts, e.stream, e.content)
			}
		})
	}
}

func TestLogWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	lw := &logWriter{f: f, now: func() time.Time { return now }}
	long := strings.Repeat("x", maxLogLine+10)
	lw.copyStream("stderr", strings.NewReader("one\n"+long+"\nlast without newline"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		e := parseLogLine([]byte(l))
		if !e.ts.Equal(now) || e.stream != "stderr" {
			t.Errorf("line %.60q parsed as %v %s", l, e.ts, e.stream)
		}
		out.Write(e.content)
	}
	if want := "one\n" + long + "\nlast without newline"; out.String() != want {
		t.Errorf("round trip lost output: got %d bytes, want %d", out.Len(), len(want))
	}
	if got := logTail(path, 5); got != "wline" {
		t.Errorf("logTail 5 = %q", got)
	}
}

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	o, err := parseLogOptions(map[string][]string{
		"follow": {"true"}, "tailLines": {"0"}, "sinceSeconds": {"10"}, "stream": {"Stderr"}, "limitBytes": {"5"},
	}, now)
	if err != nil || !o.follow || o.tailLines != 0 || !o.since.Equal(now.Add(-10*time.Second)) || o.stream != "stderr" || o.limitBytes != 5 {
		t.Errorf("options = %+v, %v", o, err)
	}
	if o, _ := parseLogOptions(nil, now); o.tailLines != -1 || o.follow || !o.since.IsZero() {
		t.Errorf("defaults = %+v", o)
	}
	for _, bad := range []map[string][]string{
		{"tailLines": {"-1"}}, {"limitBytes": {"0"}}, {"follow": {"maybe"}}, {"sinceSeconds": {"0"}}, {"stream": {"Both"}}, {"sinceTime": {"yesterday"}},
	} {
		if _, err := parseLogOptions(bad, now); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestKubeletRoutes(t *testing.T) {
	a := &Agent{cfg: Config{Kubelet: KubeletConfig{ClientUser: "kube-apiserver-kubelet-client"}}}
	s := &kubeletServer{a: a, n: &node{name: "node-1"}}
	as := func(user string) *tls.ConnectionState {
		if user == "" {
			return &tls.ConnectionState{}
		}
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: user}}}}
	}
	cases := []struct {
		name, user, path string
		want             int
	}{
		{"healthz needs no identity", "", "/healthz", http.StatusOK},
		{"no client certificate is unauthorized", "", "/containerLogs/ns/p/c", http.StatusUnauthorized},
		{"another identity is forbidden", "system:node:node-1", "/containerLogs/ns/p/c", http.StatusForbidden},
		{"exec is not implemented", "kube-apiserver-kubelet-client", "/exec/ns/p/c", http.StatusNotImplemented},
		{"attach is not implemented", "kube-apiserver-kubelet-client", "/attach/ns/p/c", http.StatusNotImplemented},
		{"portForward is not implemented", "kube-apiserver-kubelet-client", "/portForward/ns/p", http.StatusNotImplemented},
		{"an unknown path is not found", "kube-apiserver-kubelet-client", "/pods", http.StatusNotFound},
		{"a malformed log path is a bad request", "kube-apiserver-kubelet-client", "/containerLogs/ns/p", http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			r.TLS = as(c.user)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("GET %s as %q = %d %q, want %d", c.path, c.user, w.Code, w.Body.String(), c.want)
			}
		})
	}
}
