//go:build unix

package gateway

import "syscall"

// openFileLimit is the process's limit on open files (RLIMIT_NOFILE, the
// soft one, which the Go runtime raises to the hard one at start).
func openFileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}
