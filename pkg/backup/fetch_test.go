package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/redkube/redkube/test/redisenv"
)

func TestReadSyncHeaderSkipsKeepalivesAndReadsBothForms(t *testing.T) {
	mark := strings.Repeat("m", eofMarkLen)
	cases := []struct {
		in       string
		size     int64
		wantMark string
		err      string
	}{
		{in: "\n\n\n$1234\r\n", size: 1234},
		{in: "$EOF:" + mark + "\r\n", size: -1, wantMark: mark},
		{in: "\n-NOMASTERLINK Can't SYNC while not connected with my master\r\n", err: "node refused SYNC: NOMASTERLINK"},
		{in: "$EOF:short\r\n", err: "end mark of 5 bytes"},
		{in: "$-1\r\n", err: "not a bulk length"},
		{in: "+FULLRESYNC abc 0\r\n", err: "not an RDB bulk"},
		{in: "\n\n", err: "read SYNC reply: EOF"},
	}
	for _, c := range cases {
		hdr, m, err := readSyncHeader(bufio.NewReader(strings.NewReader(c.in)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || hdr.Size != c.size || string(m) != c.wantMark {
			t.Errorf("%q: %+v %q %v, want size %d mark %q", c.in, hdr, m, err, c.size, c.wantMark)
		}
	}
}

func TestCopyUntilMarkStopsAtTheMarkWhateverTheReadSizes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	mark := bytes.Repeat([]byte{0xab}, eofMarkLen)
	for _, size := range []int{0, 1, 39, 40, 41, 64 << 10, 64<<10 + 39, 300000} {
		payload := make([]byte, size)
		r.Read(payload)
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole":    func(r io.Reader) io.Reader { return r },
			"one byte": iotest.OneByteReader,
			"half":     iotest.HalfReader,
		} {
			in := append(append(append([]byte{}, payload...), mark...), "*1\r\n$4\r\nPING\r\n"...)
			var out bytes.Buffer
			n, err := copyUntilMark(&out, wrap(bytes.NewReader(in)), mark)
			if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), payload) {
				t.Fatalf("%d bytes, %s reads: copied %d (%v), equal %v", size, name, n, err, bytes.Equal(out.Bytes(), payload))
			}
		}
	}
}

func TestCopyUntilMarkCallsAStreamWithoutItsMarkTruncated(t *testing.T) {
	mark := bytes.Repeat([]byte{0xab}, eofMarkLen)
	_, err := copyUntilMark(io.Discard, bytes.NewReader(make([]byte, 100000)), mark)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("copy of a stream without its mark: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestFetchRDBAuthenticatesAndReadsAnRDB(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	nd := redisenv.Start(t, 1, redisenv.Standalone(), redisenv.WithACLUser("backup", "s3cret"), redisenv.WithConfig("repl-diskless-sync-delay", "0"))[0]
	o := FetchOptions{Username: "backup", Password: "s3cret", DialTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second}
	var rdb bytes.Buffer
	n, err := FetchRDB(context.Background(), nd.Addr, o, &rdb)
	if err != nil || n != int64(rdb.Len()) || !bytes.HasPrefix(rdb.Bytes(), []byte("REDIS00")) {
		t.Fatalf("fetch: %d bytes, %v, starts %q; want an RDB", n, err, rdb.Bytes()[:min(9, rdb.Len())])
	}
	o.Password = "wrong"
	if _, err := FetchRDB(context.Background(), nd.Addr, o, io.Discard); err == nil || !strings.Contains(err.Error(), "AUTH: WRONGPASS") {
		t.Fatalf("fetch with a wrong password: %v, want AUTH: WRONGPASS", err)
	}
}

func TestFetchRDBFromASilentNodeFailsAfterTheIdleTimeout(t *testing.T) {
	silent := redisenv.SilentListener(t)
	start := time.Now()
	_, err := FetchRDB(context.Background(), silent, FetchOptions{IdleTimeout: 300 * time.Millisecond}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "i/o timeout") || time.Since(start) > 5*time.Second {
		t.Fatalf("fetch from a silent node: %v after %v, want an i/o timeout after about 300ms", err, time.Since(start))
	}
}
