package main

import "syscall"

// procAttr puts each started process in its own process group, so that a
// Ctrl-C reaches only the benchmark, which then stops them in order, and
// has the kernel stop them should the benchmark die without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
