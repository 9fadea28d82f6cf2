//go:build !linux

package boltstore

// unmapPages does nothing where madvise's effect on a shared map of a file
// is not the same as on Linux.
func unmapPages(uintptr, int64) error { return nil }
