package h2

import (
	"bytes"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// Parked connections. A server connection over TCP that has been idle for
// its reader's idle period (idle.go), with its buffers given back and its
// reader at a frame boundary, ends its reader goroutine and leaves its
// socket to the poller: one goroutine for the whole process, which waits
// for any parked socket to become readable and then tends it (tend) or
// starts that connection's reader again (serverConn.resume). An idle
// connection then holds no goroutine at all, only its state. The socket
// stays in Go's netpoller too: the poller only watches it, the reader
// reads it. The poller's goroutine runs only while a connection is
// parked, and it waits in Go's netpoller too, for its epoll instance to
// be readable (pollWaiter).
//
// A socket leaves the poller before it is closed (serverConn.onClose
// unparks, then the writer closes), so a closed socket's number, reused
// by another connection, is never watched for the old one.

// poller is the process's poller.
var poller pollerState

type pollerState struct {
	once sync.Once
	err  error
	ep   int    // the epoll instance
	wake [2]int // a pipe: a byte in it ends the poller's wait

	// epRaw, if set, waits for the epoll instance in Go's netpoller
	// (wait): epFile keeps its descriptor registered there.
	epFile *os.File
	epRaw  syscall.RawConn

	mu      sync.Mutex
	parked  map[int32]*serverConn // by socket
	running bool                  // the goroutine runs
	// users counts the connections that have watched their socket
	// (serveInline) and not ended: while there are any, the goroutine
	// waits on even with nothing parked, rather than ending and being
	// started again for each inline call.
	users int
}

func initPoller() {
	poller.ep, poller.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if poller.err != nil {
		return
	}
	if poller.err = syscall.Pipe2(poller.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); poller.err != nil {
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(poller.wake[0])}
	if poller.err = syscall.EpollCtl(poller.ep, syscall.EPOLL_CTL_ADD, poller.wake[0], &ev); poller.err != nil {
		return
	}
	poller.parked = make(map[int32]*serverConn)
	// An epoll instance is itself readable while it has events: in Go's
	// netpoller, the poller's goroutine waits as a reader does, holding
	// no thread, and is woken by the scheduler, where a thread blocked in
	// epoll_wait would have to be woken by the kernel and then find a P.
	// Where that fails, the poller blocks in epoll_wait.
	if syscall.SetNonblock(poller.ep, true) == nil {
		f := os.NewFile(uintptr(poller.ep), "parley-poller")
		if raw, err := f.SyscallConn(); err == nil {
			poller.epFile, poller.epRaw = f, raw
		}
	}
}

// pollWaiter waits for the poller's events: with a method value made
// once, so that a wait allocates nothing.
type pollWaiter struct {
	events []syscall.EpollEvent
	n      int
	err    error
	try    func(fd uintptr) bool
}

func newPollWaiter() *pollWaiter {
	pw := &pollWaiter{events: make([]syscall.EpollEvent, 128)}
	pw.try = pw.tryFD
	return pw
}

func (pw *pollWaiter) tryFD(fd uintptr) bool {
	pw.n, pw.err = syscall.EpollWait(int(fd), pw.events, 0)
	return pw.n > 0 || pw.err != nil && pw.err != syscall.EINTR
}

// wait returns the next events of the parked sockets, waiting for them.
func (pw *pollWaiter) wait() []syscall.EpollEvent {
	if poller.epRaw != nil {
		if err := poller.epRaw.Read(pw.try); err == nil && pw.err == nil {
			return pw.events[:pw.n]
		}
		// The netpoller refused it (cannot happen once registered):
		// block instead, from now on.
		poller.epRaw = nil
	}
	n, err := syscall.EpollWait(poller.ep, pw.events, -1)
	if err != nil || n < 0 {
		return nil // EINTR; other errors cannot happen with valid arguments
	}
	return pw.events[:n]
}

// socketOf is the TCP connection a server connection reads, if it can be
// watched: TLS cannot (decrypted bytes may wait inside tls.Conn).
func socketOf(nc net.Conn) *net.TCPConn {
	if r, ok := nc.(interface{ Socket() net.Conn }); ok {
		nc = r.Socket()
	}
	tc, _ := nc.(*net.TCPConn)
	return tc
}

// mayPark reports whether a connection on nc may park.
func mayPark(nc net.Conn) bool {
	if _, ok := nc.(interface{ Socket() net.Conn }); ok {
		return true // its socket is known once the preface is read
	}
	return socketOf(nc) != nil
}

// park hands the connection's socket to the poller; false if it cannot
// be. Reader goroutine, which must return at once after true.
func (sc *serverConn) park() bool { return sc.handOver(false) }

// watch hands the connection's socket to the poller while the reader
// goroutine serves a request (serveInline): bytes arriving meanwhile start
// another reader. false if it cannot be. Reader goroutine.
func (sc *serverConn) watch() bool { return sc.handOver(true) }

// unwatch takes the socket back from the poller after watch, and reports
// whether it did: false if it has woken (another reader runs, or the
// connection is closing, and its reader sees to that). Reader goroutine.
func (sc *serverConn) unwatch() bool {
	poller.mu.Lock()
	defer poller.mu.Unlock()
	if sc.parkedFD < 0 || poller.parked[int32(sc.parkedFD)] != sc {
		return false
	}
	poller.forgetLocked(sc)
	return true
}

// forgetLocked takes sc's socket, which it is watching, out of the
// poller. poller.mu is held.
func (p *pollerState) forgetLocked(sc *serverConn) {
	delete(p.parked, int32(sc.parkedFD))
	_ = syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_DEL, sc.parkedFD, nil)
	sc.parkedFD = -1
	sc.inEpoll = false
}

// firedLocked takes sc, whose socket's entry has just reported an event
// and is therefore disabled (EPOLLONESHOT), out of the parked set. The
// entry stays in epoll: the next parking re-arms it with one
// EPOLL_CTL_MOD, where taking it out now and adding it again then would
// cost two epoll_ctl calls a wake-up (a chat member's parked connection
// wakes for every PING its client sends). A disabled entry reports
// nothing, and the kernel drops it when the socket is closed, before its
// number can be another's. poller.mu is held.
func (p *pollerState) firedLocked(sc *serverConn) {
	delete(p.parked, int32(sc.parkedFD))
	sc.parkedFD = -1
}

// leavePoller ends the connection's use of the poller (watch's), once it
// has ended.
func (sc *serverConn) leavePoller() {
	poller.mu.Lock()
	defer poller.mu.Unlock()
	if sc.pollUser {
		sc.pollUser = false
		poller.users--
		poller.endIfUnusedLocked()
	}
}

// endIfUnusedLocked makes the poller's goroutine end if nothing is
// parked or watched. poller.mu is held.
func (p *pollerState) endIfUnusedLocked() {
	if p.running && len(p.parked) == 0 && p.users == 0 {
		_, _ = syscall.Write(p.wake[1], []byte{0})
	}
}

// handOver registers the socket with the poller (see park and watch).
func (sc *serverConn) handOver(watch bool) bool {
	tc := socketOf(sc.nc)
	if tc == nil {
		return false
	}
	poller.once.Do(initPoller)
	if poller.err != nil {
		return false
	}
	raw := sc.raw
	if raw == nil {
		var err error
		if raw, err = tc.SyscallConn(); err != nil {
			return false
		}
		sc.raw = raw
	}
	fd := -1
	if raw.Control(func(s uintptr) { fd = int(s) }) != nil || fd < 0 {
		return false
	}
	// conn.mu, then the poller's: the order onClose takes them in. A
	// connection closed before this point reads on and sees its end; one
	// closed after is unparked by onClose.
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.err != nil {
		return false
	}
	poller.mu.Lock()
	defer poller.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if !sc.inEpoll || syscall.EpollCtl(poller.ep, syscall.EPOLL_CTL_MOD, fd, &ev) != nil {
		if syscall.EpollCtl(poller.ep, syscall.EPOLL_CTL_ADD, fd, &ev) != nil {
			sc.inEpoll = false
			return false
		}
	}
	sc.inEpoll = true
	// A socket closed while parked (runtime.Server.Close closes its
	// connections, then cancels them) has left epoll by itself, and its
	// number may come back here for another connection: this entry
	// replaces the stale one, whose connection the cancellation unparks.
	sc.parkedFD = fd
	sc.watched = watch
	if !watch {
		sc.parkedAt = time.Now()
	}
	poller.parked[int32(fd)] = sc
	if watch && !sc.pollUser {
		sc.pollUser = true
		poller.users++
	}
	if !poller.running {
		poller.running = true
		go pollParked()
	}
	return true
}

// unpark starts a parked connection's reader again, if it is parked: its
// connection is closing. Called by onClose, with conn.mu held.
func (sc *serverConn) unpark() {
	poller.mu.Lock()
	woken := sc.parkedFD >= 0
	if woken {
		if poller.parked[int32(sc.parkedFD)] == sc {
			poller.forgetLocked(sc)
			poller.endIfUnusedLocked()
		}
		sc.parkedFD = -1
	}
	poller.mu.Unlock()
	if woken {
		go sc.resume()
	}
}

// pollParked is the poller's goroutine: it tends each parked connection
// whose socket becomes readable (or hung up), and ends when none is
// parked or watched.
func pollParked() {
	var woken []*serverConn
	var drain [64]byte
	pr := newPollReader()
	pw := newPollWaiter()
	for {
		events := pw.wait()
		poller.mu.Lock()
		for _, ev := range events {
			if ev.Fd == int32(poller.wake[0]) {
				for {
					if m, _ := syscall.Read(poller.wake[0], drain[:]); m <= 0 {
						break
					}
				}
				continue
			}
			if sc, ok := poller.parked[ev.Fd]; ok {
				poller.firedLocked(sc)
				if sc.watched {
					// A handler runs on its reader (serveInline), which
					// still owns the reader's state: a new reader it is.
					sc.restart(nil, nil)
				} else {
					woken = append(woken, sc)
				}
			}
		}
		poller.mu.Unlock()
		for i, sc := range woken {
			sc.tend(pr)
			woken[i] = nil
		}
		woken = woken[:0]
		poller.mu.Lock()
		done := len(poller.parked) == 0 && poller.users == 0
		if done {
			poller.running = false
		}
		poller.mu.Unlock()
		if done {
			return
		}
	}
}

// pollReader is the poller's means of reading a woken socket: a buffer
// and a Framer over it.
type pollReader struct {
	buf   [4 << 10]byte
	n     int
	err   error
	read  func(fd uintptr) bool // pr.readFD, made once so a read allocates nothing
	bytes bytes.Reader
	fr    *http2.Framer
}

func newPollReader() *pollReader {
	pr := &pollReader{}
	pr.read = pr.readFD
	pr.fr = http2.NewFramer(nil, &pr.bytes)
	pr.fr.SetReuseFrames()
	return pr
}

func (pr *pollReader) readFD(fd uintptr) bool {
	pr.n, pr.err = syscall.Read(int(fd), pr.buf[:])
	return true // done, whether it read or would have blocked
}

// tend serves a parked connection whose socket is readable, on the
// poller's goroutine. Most often the bytes are a client's PING (grpc-go
// pings after data it receives: a chat member's connection hears one for
// each event sent to it), a PING ACK or a WINDOW_UPDATE: frames that need
// no stream and no goroutine. Those are handled here, as the reader would,
// and the connection parks again; waking its reader for them would cost a
// goroutine, a timer for the read deadline and, an idle period later,
// parking again. Anything else, and the bytes from there on, goes to the reader,
// which starts again with them in its buffer.
//
// While the connection is woken, its reader's state is the poller's: no
// reader runs, and onClose finds the connection not parked (it leaves the
// ending to whichever reader runs next). Poller goroutine.
func (sc *serverConn) tend(pr *pollReader) {
	pr.n, pr.err = 0, nil
	sc.pingsToWriter = false // answers go out from here, before it parks
	// raw.Read holds the socket open, so its number cannot meanwhile
	// become another connection's.
	if sc.raw.Read(pr.read) != nil || pr.n <= 0 {
		if pr.n < 0 && pr.err == syscall.EAGAIN && sc.park() {
			return // woken for nothing
		}
		// Closed, at its end, or failing: the reader meets that itself.
		sc.restart(nil, nil)
		return
	}
	p := pr.buf[:pr.n]
	if idle := sc.br.period.get(); idle < bufferIdle && time.Since(sc.parkedAt) < idle {
		// Woken within its idle period of parking: with twice the
		// period its reader would still be reading. A connection that
		// hears from its client that often (a chat member's, for each
		// event of a busy room) is cheaper with a reader than tended
		// here, one connection after another on the poller's goroutine,
		// so it gets one, and the longer period (restart), until the
		// period reaches bufferIdle: from then on only quieter
		// connections park, and their wake-ups are tended.
		sc.restart(p, nil)
		return
	}
	var err error
	for err == nil && len(p) >= frameHeaderLen {
		size := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
		if !controlFrame(http2.FrameType(p[3]), http2.Flags(p[4]), size) || len(p) < frameHeaderLen+size {
			break
		}
		pr.bytes.Reset(p[:frameHeaderLen+size])
		f, ferr := pr.fr.ReadFrame()
		if ferr != nil {
			// Malformed (a PING on a stream, say): the reader meets it
			// again and answers it.
			pr.fr = http2.NewFramer(nil, &pr.bytes)
			pr.fr.SetReuseFrames()
			break
		}
		p = p[frameHeaderLen+size:]
		sc.noteRead()
		if err = sc.dispatch(f); err == nil && sc.ctrlFlooded() {
			err = sc.connError(http2.ErrCodeEnhanceYourCalm, errCtrlFlood)
		}
	}
	if err == nil {
		sc.sendHeld()
		if len(p) == 0 && sc.park() {
			return
		}
	}
	sc.restart(p, err)
}

// restart starts the reader of a woken connection: with the bytes the
// poller read and did not handle, or, after the connection error err, to
// end the connection as the reader would. Poller goroutine.
func (sc *serverConn) restart(p []byte, err error) {
	sc.restarts.Add(1)
	if err != nil {
		go sc.read(err)
		return
	}
	if len(p) > 0 {
		sc.br.period.lengthen() // parked too soon: traffic woke it
	}
	sc.br.prefill(p)
	go sc.resume()
}

// controlFrame reports whether a frame's header says it is one that tend
// handles: a PING or its ACK, a WINDOW_UPDATE, or a SETTINGS ACK, of the
// length it must have (others, and their errors, are the reader's).
func controlFrame(t http2.FrameType, flags http2.Flags, size int) bool {
	switch t {
	case http2.FramePing:
		return size == 8
	case http2.FrameWindowUpdate:
		return size == 4
	case http2.FrameSettings:
		return flags.Has(http2.FlagSettingsAck) && size == 0
	}
	return false
}
