package sandbox

import "time"

// WaitIdle blocks until no service is serving a request, injected latency
// included, or 10 s have passed; it reports whether the sandbox went idle.
// Tests call it after a scenario so that requests a client gave up on, which
// the services still process late, have landed before the state is checked.
func (s *Sandbox) WaitIdle() bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, name := range Services {
			if svc, ok := s.service(name); ok && svc.inflight.Load() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
