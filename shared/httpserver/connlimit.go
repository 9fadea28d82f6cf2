package httpserver

import (
	"container/list"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"storefront.dev/shared/problem"
)

// refuseWait bounds each of the two steps on a connection over the limit:
// reading what its client sent (so that closing it does not reset the
// connection before the client reads the answer), then writing the answer.
const refuseWait = 100 * time.Millisecond

// maxRefusing bounds the connections over the limit being answered at
// once; beyond it one is closed without an answer, so that a flood of
// connections costs a bounded number of goroutines.
const maxRefusing = 64

// connObserver is told of each connection refused over the limit:
// answered is false for one closed without an answer. Such a connection
// never reaches the middleware, so no request metric counts it. It is
// told too of each idle connection closed to make room.
type connObserver interface {
	ConnectionRefused(answered bool)
	IdleConnectionClosed()
}

// connLimit is a listener that hands the server at most cap(slots)
// connections at once. When every place is taken, the keep-alive
// connection idle longest (waiting for its next request) is closed to make
// room, as a client must expect of an idle connection; without one, the
// new connection is answered a fixed 503 overloaded problem with
// Retry-After and closed, without being parsed: the same refusal admission
// control gives a request, where fasthttp's own Concurrency limit would
// answer a line of plain text. Otherwise a client opening connections,
// sending one request on each and keeping them open would shut every
// other client out for the idle timeout, at almost no cost.
type connLimit struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{}
	refusal  connRefusal
	observer connObserver // nil: refusals are not counted

	mu sync.Mutex
	// idle are the connections waiting for their next request (told by
	// connState), longest first.
	idle list.List
	// onAcceptWait, when set, is told of each wait out of file
	// descriptors (see Accept).
	onAcceptWait func(err error, wait time.Duration)
}

// The waits of an Accept out of file descriptors.
const (
	acceptRetryFirst = 5 * time.Millisecond
	acceptRetryMax   = time.Second
)

// outOfFiles reports whether err is an Accept that failed for want of a
// file descriptor, which connections closing will free.
func outOfFiles(err error) bool {
	return err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE))
}

// limitConns returns ln handing out at most max connections at once, each
// refusal reported to observer (nil: none) and answered with
// Strict-Transport-Security when hsts is set, as every other answer is.
func limitConns(ln net.Listener, max int, hsts bool, observer connObserver) *connLimit {
	return &connLimit{Listener: ln, slots: make(chan struct{}, max),
		refusing: make(chan struct{}, maxRefusing), refusal: newConnRefusal(hsts), observer: observer}
}

// refusalRetryAfter is the Retry-After of a connection over the limit.
const refusalRetryAfter = time.Second

// connRefusal is the whole HTTP/1.1 answer to a connection over the
// limit, made once, but for its request id: the answer is head, a new id,
// then tail. It carries the headers every other answer does (the security
// headers, X-Request-ID), so that a refusal can be told apart in a
// client's report and is no weaker than any other answer.
type connRefusal struct{ head, tail []byte }

func newConnRefusal(hsts bool) connRefusal {
	head := []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: " + problem.ContentType + "\r\n" +
		"Cache-Control: no-store\r\n" +
		"Retry-After: " + strconv.Itoa(retryAfterSeconds(refusalRetryAfter)) + "\r\n")
	fields := securityHeaderFields
	if hsts {
		fields = append(fields[:len(fields):len(fields)], hstsField)
	}
	for _, kv := range fields {
		head = append(append(append(append(head, kv[0]...), ": "...), kv[1]...), "\r\n"...)
	}
	head = append(head, HeaderRequestID+": "...)
	tail := []byte("\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(shedBody)) + "\r\n\r\n")
	return connRefusal{head: head, tail: append(tail, shedBody...)}
}

// answer returns the refusal with a new request id, in one allocation.
func (r connRefusal) answer() []byte {
	b := make([]byte, 0, len(r.head)+requestIDLen+len(r.tail))
	return append(appendRequestID(append(b, r.head...)), r.tail...)
}

// Accept returns the next connection under the limit, answering and
// closing those over it meanwhile. A process out of file descriptors
// (EMFILE, ENFILE) waits, 5ms then twice as long each time up to a
// second, as net/http does, for connections to close: returned, the error
// would end fasthttp's serving for good, and a flood of connections would
// stop the process.
func (l *connLimit) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if outOfFiles(err) {
			wait = min(max(2*wait, acceptRetryFirst), acceptRetryMax)
			if l.onAcceptWait != nil {
				l.onAcceptWait(err, wait)
			}
			time.Sleep(wait)
			continue
		}
		if err != nil {
			return nil, err
		}
		wait = 0
		if l.place() || l.reclaim() && l.place() {
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		}
		select {
		case l.refusing <- struct{}{}:
			go l.refuse(c)
		default:
			l.refused(false)
			c.Close()
		}
	}
}

// place takes a place, if one is free.
func (l *connLimit) place() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// reclaim closes the connection idle longest, which gives its place back;
// it reports whether there was one. It closes it under mu: a request whose
// first byte arrives meanwhile waits in connState, and then fails to read
// its headers, rather than be run on a connection being closed.
func (l *connLimit) reclaim() bool {
	l.mu.Lock()
	e := l.idle.Front()
	if e == nil {
		l.mu.Unlock()
		return false
	}
	c := l.idle.Remove(e).(*limitedConn)
	c.idle, c.reclaimed = nil, true
	_ = c.Close()
	l.mu.Unlock()
	if l.observer != nil {
		l.observer.IdleConnectionClosed()
	}
	return true
}

// connState follows the server's connections (fasthttp's ConnState): one
// waiting for its next request joins the idle ones, any other state leaves
// them.
func (l *connLimit) connState(nc net.Conn, state fasthttp.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case state == fasthttp.StateIdle && c.idle == nil && !c.reclaimed:
		c.idle = l.idle.PushBack(c)
	case state != fasthttp.StateIdle && c.idle != nil:
		l.idle.Remove(c.idle)
		c.idle = nil
	}
}

func (l *connLimit) refused(answered bool) {
	if l.observer != nil {
		l.observer.ConnectionRefused(answered)
	}
}

// refuse answers c the overload problem and closes it, each step under a
// deadline of its own: a client slow to send its request, whose read spent
// refuseWait, still gets the answer. It is counted once written.
func (l *connLimit) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	defer c.Close()
	// The request line and headers, as far as they came in time: unread
	// bytes would make the close a reset that can discard the answer.
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(refuseWait))
	_, _ = c.Read(buf)
	_ = c.SetWriteDeadline(time.Now().Add(refuseWait))
	_, err := c.Write(l.refusal.answer())
	l.refused(err == nil)
}

// limitedConn gives its place back once, on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// Under connLimit's mu: its place among the idle ones, and whether it
	// was closed to make room (it is never idle again).
	idle      *list.Element
	reclaimed bool
	// linger is set when a request was refused before all of it was read
	// (see lingerOnClose).
	linger atomic.Bool
}

// lingerTime bounds how long a connection refused a request it had not
// read to its end is read from, and its rest thrown away, before it is
// closed (see limitedConn.Close).
const lingerTime = 2 * time.Second

// Close closes the connection and gives its place back. One whose request
// was refused part read (a body over the limit, headers too large) is
// closed the way a web server's lingering close does: its answer is
// written, so the server first says it will send nothing more, then reads
// and throws away what the client still sends, for lingerTime at most, on
// a goroutine of its own, keeping its place meanwhile. Closed with bytes
// unread, the connection would be reset, and a reset can make the client's
// system throw the answer away before the client reads it.
func (c *limitedConn) Close() error {
	hc, ok := c.Conn.(interface{ CloseWrite() error })
	if !c.linger.CompareAndSwap(true, false) || !ok || hc.CloseWrite() != nil {
		err := c.Conn.Close()
		c.once.Do(c.release)
		return err
	}
	go func() {
		defer c.once.Do(c.release)
		defer c.Conn.Close()
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, c.Conn)
	}()
	return nil
}

// lingerOnClose marks nc, the connection of a request refused before it was
// read to its end, to be closed lingering (see limitedConn.Close).
func lingerOnClose(nc net.Conn) {
	if c, ok := nc.(*limitedConn); ok {
		c.linger.Store(true)
	}
}
