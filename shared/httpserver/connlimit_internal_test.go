package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// refusalRecorder passes on each refusal it is told of.
type refusalRecorder chan bool

func (r refusalRecorder) ConnectionRefused(answered bool) { r <- answered }

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
