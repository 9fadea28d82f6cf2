package httpserver

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// refuseWait bounds the time spent on a connection over the limit: reading
// what its client sent (so that closing it does not reset the connection
// before the client reads the answer) and writing the answer.
const refuseWait = 100 * time.Millisecond

// maxRefusing bounds the connections over the limit being answered at
// once; beyond it one is closed without an answer, so that a flood of
// connections costs a bounded number of goroutines.
const maxRefusing = 64

// connObserver is told of each connection refused over the limit:
// answered is false for one closed without an answer. Such a connection
// never reaches the middleware, so no request metric counts it.
type connObserver interface {
	ConnectionRefused(answered bool)
}

// connLimit is a listener that hands the server at most cap(slots)
// connections at once. One more is answered a fixed 503 overloaded
// problem with Retry-After and closed, without being parsed: the same
// refusal admission control gives a request, where fasthttp's own
// Concurrency limit would answer a line of plain text.
type connLimit struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{}
	refusal  []byte
	observer connObserver // nil: refusals are not counted
}

// limitConns returns ln handing out at most max connections at once, each
// refusal reported to observer (nil: none).
func limitConns(ln net.Listener, max int, observer connObserver) *connLimit {
	return &connLimit{Listener: ln, slots: make(chan struct{}, max),
		refusing: make(chan struct{}, maxRefusing), refusal: connRefusal(), observer: observer}
}

// connRefusal is the whole HTTP/1.1 answer to a connection over the limit.
func connRefusal() []byte {
	b := []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/problem+json\r\n" +
		"Cache-Control: no-store\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(shedBody)) + "\r\n\r\n")
	return append(b, shedBody...)
}

// Accept returns the next connection under the limit, answering and
// closing those over it meanwhile.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		select {
		case l.refusing <- struct{}{}:
			l.refused(true)
			go l.refuse(c)
		default:
			l.refused(false)
			c.Close()
		}
	}
}

func (l *connLimit) refused(answered bool) {
	if l.observer != nil {
		l.observer.ConnectionRefused(answered)
	}
}

func (l *connLimit) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseWait))
	// The request line and headers, as far as they came in time: unread
	// bytes would make the close a reset that can discard the answer.
	buf := make([]byte, 4096)
	_, _ = c.Read(buf)
	_, _ = c.Write(l.refusal)
}

// limitedConn gives its place back once, on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
