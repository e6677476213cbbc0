package server

import (
	"errors"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/parleyrpc/parley/mailbox"
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
// the room talks) gets a goroutine of its own (backlog.drainWaiting) until
// its backlog is empty. A goroutine with nothing to deliver waits up to
// drainerIdle for more (at most maxIdleDrainers wait), and none is left
// once the server has shut down (close). A nil *drainers starts a
// goroutine for each backlog.
type drainers struct {
	mu      sync.Mutex
	ready   []*backlog      // waiting for a goroutine, oldest first
	running int             // goroutines delivering or waiting
	idle    []chan *backlog // the waiting goroutines' mailboxes, most recent last
	closed  bool
	started int // goroutines started (the tests read it)
}

const drainerIdle = time.Second

var (
	maxDrainers     = max(4, 2*goruntime.GOMAXPROCS(0))
	maxIdleDrainers = min(maxDrainers, 8)
)

// start has b's events delivered: by a waiting goroutine, a new one, or
// the next to be free.
func (p *drainers) start(b *backlog) {
	if p == nil {
		go b.drainWaiting(nil)
		return
	}
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
	var next chan *backlog
	var t *time.Timer
	for b != nil {
		b.drainReady()
		if b = p.take(); b != nil {
			continue
		}
		if t == nil {
			next, t = make(chan *backlog, 1), time.NewTimer(drainerIdle)
		} else {
			t.Reset(drainerIdle)
		}
		b = p.wait(next, t)
	}
	if t != nil {
		t.Stop()
	}
}

// take returns the oldest queued backlog, if any.
func (p *drainers) take() *backlog {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// wait makes the goroutine whose mailbox is next idle, and returns the
// backlog it is given, or nil when it is to end: none came within
// drainerIdle, enough wait already, or the server has shut down.
func (p *drainers) wait(next chan *backlog, t *time.Timer) *backlog {
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleDrainers {
		p.running--
		p.mu.Unlock()
		return nil
	}
	p.idle = append(p.idle, next)
	p.mu.Unlock()
	for {
		select {
		case b := <-next:
			return b
		case <-t.C:
		}
		p.mu.Lock()
		if i := slices.Index(p.idle, next); i >= 0 {
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

// drainReady delivers b's waiting events without waiting: when the
// member's call is full, the rest is left to a goroutine of b's own
// (drainWaiting), starting with the event that did not fit. A drainers
// goroutine.
func (b *backlog) drainReady() {
	for {
		ev := b.next()
		if ev == nil {
			return
		}
		err := b.dst.TrySend(ev)
		if errors.Is(err, mailbox.ErrFull) {
			go b.drainWaiting(ev)
			return
		}
		if err != nil {
			b.end(b.sendErr(err))
		}
	}
}
