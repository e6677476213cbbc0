package server

import (
	goruntime "runtime"
	"slices"
	"sync"
	"time"
)

// drainers delivers members' events (backlog.drain) on a few goroutines
// that take one backlog after another, rather than a goroutine for each
// member with events. A delivery is the conversation's Send: the
// protocol check, the msgpack encoding and the HTTP/2 write, deep enough
// to grow a new goroutine's stack twice, copying it each time; and a
// room's event goes to all its members at once. With a goroutine a
// member, 20,000 members on 200 connections spent 16% of the server's CPU
// in runtime.newstack.
//
// At most maxDrainers goroutines deliver at once; the backlogs that wait
// for one are queued in the order their events came. A delivery never
// waits there: a member whose call is full (its client reads slower than
// the room talks) gets a goroutine of its own (backlog.drain with wait)
// until its backlog is empty. A goroutine with nothing to deliver waits
// up to drainerIdle for more (at most maxIdleDrainers wait), and none is
// left once the server has shut down (close).
type drainers struct {
	mu      sync.Mutex
	ready   []*backlog      // waiting for a goroutine, oldest first
	running int             // goroutines delivering or waiting
	idle    []chan *backlog // the waiting goroutines' mailboxes, most recent last
	closed  bool
	started int // goroutines started (the tests read it)
	// between, if set, is called by a delivering goroutine after each
	// backlog (the tests set it).
	between func()
}

const drainerIdle = time.Second

var (
	maxDrainers     = max(4, 2*goruntime.GOMAXPROCS(0))
	maxIdleDrainers = min(maxDrainers, 8)
)

// start has b's events delivered: by a waiting goroutine, a new one, or
// the next to be free.
func (p *drainers) start(b *backlog) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		next := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		next <- b
		return
	}
	if p.running >= maxDrainers {
		p.ready = append(p.ready, b)
		p.mu.Unlock()
		return
	}
	p.running++
	p.started++
	p.mu.Unlock()
	go p.run(b)
}

// run delivers b's events, then those of the backlogs queued or given to
// it while it waits.
func (p *drainers) run(b *backlog) {
	var w drainer
	for b != nil {
		b.drain(nil, false)
		if p.between != nil {
			p.between()
		}
		b = p.wait(&w)
	}
	if w.timer != nil {
		w.timer.Stop()
	}
}

// drainer is a delivering goroutine's means of waiting: its mailbox and
// timer, made the first time it waits.
type drainer struct {
	next  chan *backlog
	timer *time.Timer
}

// takeLocked returns the oldest queued backlog, if any. p.mu held.
func (p *drainers) takeLocked() *backlog {
	if len(p.ready) == 0 {
		if cap(p.ready) > 1024 {
			p.ready = nil // the array of a past burst
		}
		return nil
	}
	b := p.ready[0]
	p.ready[0] = nil
	p.ready = p.ready[1:]
	return b
}

// wait returns the next backlog for w: the oldest queued, or else the
// one it is given while idle. It returns nil when w's goroutine is to
// end: nothing came within drainerIdle, enough wait already, or the
// server has shut down. Looking at the queue and going idle happen under
// one lock, so a backlog that start queued (no goroutine being idle) is
// always taken.
func (p *drainers) wait(w *drainer) *backlog {
	p.mu.Lock()
	if b := p.takeLocked(); b != nil {
		p.mu.Unlock()
		return b
	}
	if p.closed || len(p.idle) >= maxIdleDrainers {
		p.running--
		p.mu.Unlock()
		return nil
	}
	if w.next == nil {
		w.next = make(chan *backlog, 1)
	}
	p.idle = append(p.idle, w.next)
	p.mu.Unlock()
	if w.timer == nil {
		w.timer = time.NewTimer(drainerIdle)
	} else {
		w.timer.Reset(drainerIdle)
	}
	for {
		select {
		case b := <-w.next:
			return b
		case <-w.timer.C:
		}
		p.mu.Lock()
		if i := slices.Index(p.idle, w.next); i >= 0 {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.running--
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock() // start has just taken it: a backlog is on its way
	}
}

// close ends the waiting goroutines, and makes those still delivering
// end when they are done.
func (p *drainers) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, next := range idle {
		next <- nil
	}
}
