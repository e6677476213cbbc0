//go:build linux && !race

package h2

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket,
// made without telling the scheduler (syscall.RawSyscall): they return at
// once, data or EAGAIN, so the thread need not give up its P. Telling it
// (syscall.Read) costs the call more than the work when the rest of the
// process is idle: entering the call then wakes the runtime's monitor
// thread from its sleep, a futex wake and, once it finds nothing to do, a
// futex wait, on every read of a connection that is not busy. Race builds
// use sysio_unix.go instead, whose calls the race detector sees.
//
// sysWrite is the writer goroutine's (directConn.writeAll). A sender
// writing its own frames (directConn.write, writer.writeNow) still goes
// through the scheduler: made raw too, parley-to-parley ping-pong on one
// stream went from 1.31× grpc-go's pair to 1.02× (three rounds each), as
// the monitor thread that write wakes keeps the other processor awake
// for the reply that follows, and without it that reply waits for an
// idle processor to wake.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_READ, fd, p) }

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_WRITE, fd, p) }

// rawIO makes the read or write call trap on fd with p, again if a signal
// interrupted it.
func rawIO(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != syscall.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(n), 0
		}
	}
}
