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
	return c.sc.after.Add(&c.sc.ctxMu, f)
}

// cancelStreams calls the registered funcs once the connection has
// closed: every stream context is cancelled.
func (sc *serverConn) cancelStreams() {
	sc.ctxMu.Lock()
	p := sc.after.End()
	sc.ctxMu.Unlock()
	p.Call()
}
