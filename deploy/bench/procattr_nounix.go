//go:build !unix

package main

import "syscall"

// procAttr has nothing to set where there are no process groups.
func procAttr() *syscall.SysProcAttr { return nil }
