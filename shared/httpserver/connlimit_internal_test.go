package httpserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// refusalRecorder passes on each refusal it is told of.
type refusalRecorder chan bool

func (r refusalRecorder) ConnectionRefused(answered bool) { r <- answered }

func (r refusalRecorder) IdleConnectionClosed() {}

// TestConnectionRefusalsAreCounted: a connection over the limit never
// reaches the middleware that counts requests, so the listener reports it,
// answered or, with maxRefusing already being answered, closed without an
// answer.
func TestConnectionRefusalsAreCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusals := make(refusalRecorder, 4)
	l := limitConns(ln, 1, false, refusals)
	defer l.Close()
	accepted := acceptAll(l)
	addr := ln.Addr().String()

	held := dialRaw(t, addr)
	defer held.Close()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the first connection was never accepted")
	}

	answered := dialRaw(t, addr)
	defer answered.Close()
	if _, err := io.WriteString(answered, "GET /ok HTTP/1.1\r\nHost: bff\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(answered), nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got status %d over the limit, want 503", resp.StatusCode)
	}
	if got := nextRefusal(t, refusals); got != true {
		t.Errorf("got a refusal with answered %v, want true", got)
	}

	// A client that sends its request only after the wait for it still
	// reads the answer, whole.
	late := dialRaw(t, addr)
	defer late.Close()
	time.Sleep(refuseWait * 3 / 2)
	_, _ = io.WriteString(late, "GET /ok HTTP/1.1\r\nHost: bff\r\n\r\n")
	br := bufio.NewReader(late)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a late request over the limit: %v, %v; want the 503", resp, err)
	} else if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("reading the late refusal's body: %v", err)
	}
	if got := nextRefusal(t, refusals); got != true {
		t.Errorf("got a refusal with answered %v, want true", got)
	}

	// Every place to answer from taken: the next one is closed unanswered.
	for range maxRefusing {
		l.refusing <- struct{}{}
	}
	closed := dialRaw(t, addr)
	defer closed.Close()
	if got := nextRefusal(t, refusals); got != false {
		t.Errorf("got a refusal with answered %v, want false", got)
	}
	if n, err := closed.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection closed unanswered got %d bytes", n)
	}
}

// acceptAll passes on each connection l accepts, until l is closed.
func acceptAll(l *connLimit) <-chan net.Conn {
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func nextRefusal(t *testing.T, refusals refusalRecorder) bool {
	t.Helper()
	select {
	case answered := <-refusals:
		return answered
	case <-time.After(5 * time.Second):
		t.Fatal("no refusal was reported")
		return false
	}
}

// TestTheLongestIdleConnectionMakesRoom: at the limit, a new connection
// takes the place of the connection idle longest, which is closed; one
// busy again (its next request arriving) is idle no more.
func TestTheLongestIdleConnectionMakesRoom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitConns(ln, 2, false, make(refusalRecorder, 4))
	defer l.Close()
	addr := ln.Addr().String()
	// accept returns a new connection's client side and the listener's.
	accepted := acceptAll(l)
	accept := func() (net.Conn, *limitedConn) {
		t.Helper()
		client := dialRaw(t, addr)
		t.Cleanup(func() { client.Close() })
		select {
		case c := <-accepted:
			t.Cleanup(func() { c.Close() })
			return client, c.(*limitedConn)
		case <-time.After(5 * time.Second):
			t.Fatal("a connection was refused, or never accepted")
			return nil, nil
		}
	}
	// open reports whether the server kept the connection of client open.
	open := func(client net.Conn) bool {
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := client.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}

	c1, s1 := accept()
	c2, s2 := accept()
	l.connState(s1, fasthttp.StateIdle)
	l.connState(s2, fasthttp.StateIdle)
	c3, s3 := accept()
	if open(c1) || !open(c2) {
		t.Errorf("a third connection: the first open %v, the second %v; want the first, idle longest, closed", open(c1), open(c2))
	}
	// A closed connection whose answer went out meanwhile is idle no more.
	l.connState(s1, fasthttp.StateIdle)
	l.mu.Lock()
	if n := l.idle.Len(); n != 1 {
		t.Errorf("%d idle connections, want 1: the closed one came back", n)
	}
	l.mu.Unlock()

	l.connState(s2, fasthttp.StateActive)
	l.connState(s3, fasthttp.StateIdle)
	accept()
	if !open(c2) || open(c3) {
		t.Errorf("a fourth connection: the busy second open %v, the idle third %v; want the third closed", open(c2), open(c3))
	}
}
