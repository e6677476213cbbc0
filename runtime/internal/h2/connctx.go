package h2

import (
	"context"
	"time"
)

// connCtx is the parent of a server connection's stream contexts: done
// when the connection closes, its deadline and values those of the
// context the connection was served with. A context.WithCancel would hold
// a struct, a channel and a map of children for as long as the connection
// lives, idle or not; connCtx holds nothing while no stream is open.
// Converting it to a context.Context allocates nothing (one pointer).
type connCtx struct{ sc *serverConn }

// afterClose is one func to call when the connection closes: a stream
// context's cancel, registered by the context package through
// connCtx.AfterFunc. The entries form a list guarded by ctxMu.
type afterClose struct {
	f          func()
	prev, next *afterClose
}

func (c connCtx) Deadline() (time.Time, bool) { return c.sc.base.Deadline() }
func (c connCtx) Done() <-chan struct{}       { return c.sc.closed }
func (c connCtx) Value(key any) any           { return c.sc.base.Value(key) }

func (c connCtx) Err() error {
	select {
	case <-c.sc.closed:
		if err := c.sc.base.Err(); err != nil {
			return err
		}
		return context.Canceled
	default:
		return nil
	}
}

// AfterFunc makes context.WithCancel and context.AfterFunc register with
// the connection rather than start a goroutine to watch Done (the context
// package's contract for a parent that is not its own). f is called when
// the connection closes, on the goroutine that closes it: the funcs the
// context package gives are a child's cancel, which runs no user code.
func (c connCtx) AfterFunc(f func()) (stop func() bool) {
	sc := c.sc
	sc.ctxMu.Lock()
	if sc.afterClosed {
		sc.ctxMu.Unlock()
		go f()
		return func() bool { return false }
	}
	e := &afterClose{f: f, next: sc.after}
	if sc.after != nil {
		sc.after.prev = e
	}
	sc.after = e
	sc.ctxMu.Unlock()
	return func() bool {
		sc.ctxMu.Lock()
		defer sc.ctxMu.Unlock()
		if e.f == nil {
			return false
		}
		if e.prev != nil {
			e.prev.next = e.next
		} else {
			sc.after = e.next
		}
		if e.next != nil {
			e.next.prev = e.prev
		}
		e.f, e.prev, e.next = nil, nil, nil
		return true
	}
}

// cancelStreams calls the registered funcs once the connection has
// closed: every stream context is cancelled.
func (sc *serverConn) cancelStreams() {
	sc.ctxMu.Lock()
	e := sc.after
	sc.after, sc.afterClosed = nil, true
	var fs []func()
	for ; e != nil; e = e.next {
		fs = append(fs, e.f)
		e.f = nil
	}
	sc.ctxMu.Unlock()
	for _, f := range fs {
		f()
	}
}
