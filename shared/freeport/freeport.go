// Package freeport finds loopback addresses nothing listens on, for a
// process a test or a benchmark starts, or restarts, there later.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Addrs returns n distinct loopback addresses that were free a moment
// ago. All are held open until the last is chosen, so none repeats. They
// are taken below the system's ephemeral range where it is known (Linux):
// a port in that range, free when chosen, can become the source port of a
// connection made meanwhile (a readiness poll, a BFF's first upstream
// call), and the process meant to listen on it then fails to bind.
func Addrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	next := fixedPorts()
	for range n {
		l, err := listenFree(next)
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// listenFree listens on the first port next offers that is free, or on
// one the system chooses once next offers none.
func listenFree(next func() (int, bool)) (net.Listener, error) {
	for {
		port, ok := next()
		if !ok {
			return net.Listen("tcp", "127.0.0.1:0")
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			return l, nil
		}
	}
}

// fixedPorts offers the ports from a random one below the ephemeral range
// up to that range's start, or none when the range is unknown.
func fixedPorts() func() (int, bool) {
	lo := ephemeralStart()
	if lo <= lowestPort+1 {
		return func() (int, bool) { return 0, false }
	}
	port := lowestPort + rand.IntN(lo-lowestPort)
	tried := 0
	return func() (int, bool) {
		if tried == lo-lowestPort {
			return 0, false
		}
		tried++
		port++
		if port >= lo {
			port = lowestPort
		}
		return port, true
	}
}

// lowestPort is the lowest port Addrs takes; below it lie the
// well-known and commonly configured ones.
const lowestPort = 10000

// ephemeralStart is the first port of the system's ephemeral range, 0
// where it cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return lo
}
