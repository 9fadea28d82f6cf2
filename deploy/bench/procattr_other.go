//go:build unix && !linux

package main

import "syscall"

// procAttr puts each started process in its own process group, so that a
// Ctrl-C reaches only the benchmark, which then stops them in order.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
