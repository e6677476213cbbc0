//go:build unix && (!linux || race)

package h2

import "syscall"

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket
// (sysio_raw.go makes them without telling the scheduler). The race
// detector's builds use these too: syscall's tell it that what one
// goroutine writes to a socket happens before another reads it.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			return errnoResult(n, err)
		}
	}
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, err := syscall.Write(int(fd), p)
		if err != syscall.EINTR {
			return errnoResult(n, err)
		}
	}
}

func errnoResult(n int, err error) (int, syscall.Errno) {
	if err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return 0, e
		}
		return 0, syscall.EIO
	}
	return n, 0
}
