package boltstore

import "syscall"

// unmapPages drops the process's map of the pages of the n bytes mapped
// at addr, a shared map of a file: they leave its resident memory, keep
// their contents in the page cache, and are mapped again when next read.
func unmapPages(addr uintptr, n int64) error {
	if n <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
