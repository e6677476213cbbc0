package h2

import (
	"sync"
	"time"
)

// workers runs streams' handlers on goroutines that have run one before.
// A new goroutine starts with a small stack, and a handler's calls grow it
// twice (copying it each time): with 32 unary callers, runtime.newstack
// was 16% of the server's CPU. A goroutine that has run a handler waits,
// for up to workerIdle, to run the next one with the stack it has. An idle
// server thus holds no worker after workerIdle, and none once its last
// connection has ended (closeIdle).
type workers struct {
	mu     sync.Mutex
	idle   []*worker // most recently idle last
	closed bool      // closeIdle was called and no connection opened since
}

// worker is an idle worker's mailbox: a stream to run, or nil to end.
// Its timer says it has waited workerIdle (a Reset drops a stale firing).
type worker struct {
	next  chan *serverStream
	timer *time.Timer
}

const (
	// workerIdle is how long a worker waits for a stream.
	workerIdle = time.Second
	// maxIdleWorkers bounds the workers waiting at once.
	maxIdleWorkers = 64
)

// start runs st's handler (serverConn.runHandler) on an idle worker, or
// on a new goroutine.
func (p *workers) start(st *serverStream) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- st
		return
	}
	p.mu.Unlock()
	go p.work(st)
}

// open notes that a connection started: workers may wait again. Called
// with the server's mu held, as closeIdle is.
func (p *workers) open() {
	p.mu.Lock()
	p.closed = false
	p.mu.Unlock()
}

// work runs st's handler, then waits for more.
func (p *workers) work(st *serverStream) {
	var w *worker
	for st != nil {
		st.sc.runHandler(st)
		if w == nil {
			w = &worker{next: make(chan *serverStream, 1), timer: time.NewTimer(workerIdle)}
		} else {
			w.timer.Reset(workerIdle)
		}
		st = p.wait(w)
	}
	if w != nil {
		w.timer.Stop()
	}
}

// wait makes w idle and returns the next stream it is given, or nil if
// it is to end.
func (p *workers) wait(w *worker) *serverStream {
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleWorkers {
		p.mu.Unlock()
		return nil
	}
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	for {
		select {
		case st := <-w.next:
			return st
		case <-w.timer.C:
		}
		// Idle for workerIdle: end, unless start has just taken w.
		p.mu.Lock()
		for i, iw := range p.idle {
			if iw == w {
				copy(p.idle[i:], p.idle[i+1:])
				p.idle[len(p.idle)-1] = nil
				p.idle = p.idle[:len(p.idle)-1]
				p.mu.Unlock()
				return nil
			}
		}
		p.mu.Unlock()
	}
}

// closeIdle ends the idle workers: the server's last connection has
// ended. Called with the server's mu held.
func (p *workers) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, w := range idle {
		w.next <- nil
	}
}
