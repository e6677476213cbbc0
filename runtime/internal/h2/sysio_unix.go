//go:build unix && (!linux || race)

package h2

import "syscall"

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket
// (sysio_raw.go makes them without telling the scheduler). The race
// detector's builds use these too: syscall's tell it that what one
// goroutine writes to a socket happens before another reads it.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) { return retryIO(syscall.Read, fd, p) }

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return retryIO(syscall.Write, fd, p) }

// retryIO calls op on fd with p, again if a signal interrupted it.
func retryIO(op func(int, []byte) (int, error), fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, err := op(int(fd), p)
		switch e, ok := err.(syscall.Errno); {
		case err == nil:
			return n, 0
		case !ok:
			return 0, syscall.EIO
		case e != syscall.EINTR:
			return 0, e
		}
	}
}
