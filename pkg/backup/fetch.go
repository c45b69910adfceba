package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// FetchOptions configure a replication connection.
type FetchOptions struct {
	// Username and Password authenticate (AUTH); the user needs the SYNC
	// and REPLCONF commands.
	Username, Password string
	// TLSConfig enables TLS when not nil (ServerName defaults to the
	// node's host).
	TLSConfig *tls.Config
	// DialTimeout bounds connecting and the TLS handshake (default 10 s).
	DialTimeout time.Duration
	// IdleTimeout bounds each wait for bytes from the node: a node that
	// sends nothing, not even the newlines Redis writes every second while
	// it prepares the RDB, for this long has stalled (default 60 s).
	IdleTimeout time.Duration
}

func (o FetchOptions) withDefaults() FetchOptions {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = time.Minute
	}
	return o
}

// RDBHeader is what the node said before the RDB payload.
type RDBHeader struct {
	// Size is the payload's length in the disk-based form ($<len>), -1 in
	// the diskless form, which ends with an end-of-file mark instead.
	Size int64
}

// FetchRDB asks the node at addr for a full copy of its dataset over the
// replication protocol, as `redis-cli --rdb` does, and copies the RDB to
// w without holding it in memory: it authenticates, declares itself an
// RDB-only replica that understands diskless transfers (REPLCONF rdb-only
// 1, REPLCONF capa eof), sends SYNC, skips the newlines the node sends
// while it forks, and reads either a `$<len>` bulk or the `$EOF:<mark>`
// diskless form. It returns the number of payload bytes copied.
//
// The node serves the copy from a fork (BGSAVE to a socket or to disk),
// so its memory may grow by the pages written meanwhile. A replica that
// has lost its master refuses (NOMASTERLINK); that error is returned.
func FetchRDB(ctx context.Context, addr string, o FetchOptions, w io.Writer) (int64, error) {
	o = o.withDefaults()
	conn, err := dialNode(ctx, addr, o)
	if err != nil {
		return 0, fmt.Errorf("sync from %s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }() // the transfer is over either way
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReaderSize(idleConn{Conn: conn, ctx: ctx, idle: o.IdleTimeout}, 64<<10)
	if err := handshake(conn, r, o); err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("sync from %s: %w", addr, err))
	}
	hdr, mark, err := readSyncHeader(r)
	if err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("sync from %s: %w", addr, err))
	}
	var n int64
	if hdr.Size >= 0 {
		n, err = io.CopyN(w, r, hdr.Size)
		if err == nil && n < hdr.Size {
			err = io.ErrUnexpectedEOF
		}
	} else {
		n, err = copyUntilMark(w, r, mark)
	}
	if err != nil {
		return n, ctxErr(ctx, fmt.Errorf("sync from %s: after %d bytes: %w", addr, n, err))
	}
	return n, nil
}

// ctxErr prefers the context's error to the deadline it forced on the
// connection.
func ctxErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil {
		return fmt.Errorf("%w (%w)", ce, err)
	}
	return err
}

// dialNode connects, over TLS when configured.
func dialNode(ctx context.Context, addr string, o FetchOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.DialTimeout}
	if o.TLSConfig == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	cfg := o.TLSConfig.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = host
	}
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}

// handshake authenticates and sends the REPLCONF lines and SYNC. An old
// server without rdb-only (before 7.0) refuses it; the copy still works,
// the node then streams commands after the RDB, which FetchRDB does not
// read.
func handshake(w io.Writer, r *bufio.Reader, o FetchOptions) error {
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if err := command(w, r, args...); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := command(w, r, "REPLCONF", "capa", "eof"); err != nil {
		return fmt.Errorf("REPLCONF capa eof: %w", err)
	}
	if err := command(w, r, "REPLCONF", "rdb-only", "1"); err != nil && !isRedisError(err) {
		return fmt.Errorf("REPLCONF rdb-only: %w", err)
	}
	if _, err := io.WriteString(w, "*1\r\n$4\r\nSYNC\r\n"); err != nil {
		return fmt.Errorf("send SYNC: %w", err)
	}
	return nil
}

// redisError is an error reply ("-ERR ...").
type redisError string

func (e redisError) Error() string { return string(e) }

func isRedisError(err error) bool {
	var re redisError
	return errors.As(err, &re)
}

// command writes one RESP command and reads a simple reply.
func command(w io.Writer, r *bufio.Reader, args ...string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "-") {
		return redisError(strings.TrimPrefix(line, "-"))
	}
	return nil
}

// readLine reads one CRLF-terminated line without the CRLF.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// eofMarkLen is the length of the diskless transfer's end mark.
const eofMarkLen = 40

// readSyncHeader skips the keep-alive newlines and parses the bulk header
// of the RDB: "$<len>" or "$EOF:<40-byte mark>".
func readSyncHeader(r *bufio.Reader) (RDBHeader, []byte, error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return RDBHeader{}, nil, fmt.Errorf("read SYNC reply: %w", err)
		}
		if line == "" {
			continue // keep-alive while the node forks
		}
		return parseSyncHeader(line)
	}
}

// parseSyncHeader parses one non-empty reply line to SYNC.
func parseSyncHeader(line string) (RDBHeader, []byte, error) {
	switch {
	case strings.HasPrefix(line, "-"):
		return RDBHeader{}, nil, fmt.Errorf("node refused SYNC: %w", redisError(line[1:]))
	case strings.HasPrefix(line, "$EOF:"):
		mark := line[len("$EOF:"):]
		if len(mark) != eofMarkLen {
			return RDBHeader{}, nil, fmt.Errorf("SYNC reply %q: end mark of %d bytes, want %d", line, len(mark), eofMarkLen)
		}
		return RDBHeader{Size: -1}, []byte(mark), nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil || n < 0 {
			return RDBHeader{}, nil, fmt.Errorf("SYNC reply %q: not a bulk length", line)
		}
		return RDBHeader{Size: n}, nil, nil
	default:
		return RDBHeader{}, nil, fmt.Errorf("SYNC reply %q: not an RDB bulk", line)
	}
}

// copyUntilMark copies r to w until r yields mark, which is not copied.
// It keeps the last len(mark) bytes back until more arrive.
func copyUntilMark(w io.Writer, r io.Reader, mark []byte) (int64, error) {
	buf := make([]byte, 64<<10+len(mark))
	held := 0 // bytes at buf[:held] not yet written
	var n int64
	for {
		k, err := r.Read(buf[held:])
		held += k
		// The mark ends the payload; a server without rdb-only (before
		// 7.0) may send replication traffic right after it.
		if i := bytes.Index(buf[:held], mark); i >= 0 {
			m, werr := w.Write(buf[:i])
			return n + int64(m), werr
		}
		if flush := held - len(mark); flush > 0 {
			m, werr := w.Write(buf[:flush])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
			held = copy(buf, buf[flush:held])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
}

// idleConn sets a read deadline before every read, so a transfer fails
// only when the node is silent for idle, however long the RDB.
type idleConn struct {
	net.Conn
	ctx  context.Context
	idle time.Duration
}

// Read waits at most idle for bytes; once ctx has ended it fails (the
// deadline FetchRDB forces then interrupts a read in progress).
func (c idleConn) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
