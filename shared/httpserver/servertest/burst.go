package servertest

import (
	"sync"
	"testing"
)

// Burst calls send n times at once, each on its own goroutine, and returns
// the responses in call order; a transport error fails the test.
func Burst(tb testing.TB, n int, send func(i int) (Response, error)) []Response {
	tb.Helper()
	out := make([]Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = send(i)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// Statuses counts responses by status.
func Statuses(rs []Response) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}
