package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/afterfunc"
	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// callCtx is a server call's context, the handler's. Its values are the
// stream's, with the call itself under serverStreamKey; it ends with
// DeadlineExceeded when the call's deadline passes, or with Canceled when
// cancel is called (the call is over, the client reset it or went away).
//
// It takes the place of context.WithDeadline over context.WithValue,
// which cost a server call four allocations and a timer of their own,
// besides the transport's timer for the same deadline (SetDeadline's
// backstop): where the stream is a transport.DeadlineNotifier, that one
// timer ends the context too. Contexts derived from it register with it
// (AfterFunc), as they would with the context package's own, rather than
// start a goroutine each. It lives in its serverCore: making it
// allocates nothing, and its Done channel is made only if asked for.
type callCtx struct {
	ss     *serverCore     // its deadline (zero if none) is the context's
	values context.Context // the stream's: never done

	mu         sync.Mutex
	done       chan struct{}  // made by Done, or closedChan if the context ended first
	err        error          // why it ended; nil while it has not
	after      afterfunc.List // the funcs to call when it ends (AfterFunc)
	timer      *time.Timer    // the deadline's, where the transport has none for it
	onDeadline func()         // see setOnDeadline
}

// closedChan is the Done channel of a callCtx that ended before anyone
// asked for it.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// init sets the context up for ss, whose deadline and stream are set, and
// starts its deadline, on the stream's timer if it can. The stream's own
// deadline (its backstop) follows the call's by deadlineGrace: whatever
// the handler does, and whether or not the client grants the window to
// send the response, the stream and all it holds are released by then.
func (c *callCtx) init(ss *serverCore, values context.Context) {
	c.ss, c.values = ss, values
	deadline := ss.deadline
	if deadline.IsZero() {
		return
	}
	if !time.Now().Before(deadline) {
		// Spent before the call began (grpc-timeout "0n", or a budget a
		// proxy forwarded to the last nanosecond): the context is done
		// from the start, so a handler that returns at once cannot beat
		// a timer that has yet to run and end the call OK, as it did.
		// The stream's timers still follow, for its backstop.
		c.mu.Lock()
		c.err, c.done = context.DeadlineExceeded, closedChan
		c.mu.Unlock()
	}
	backstop := deadline.Add(deadlineGrace)
	if dn, ok := ss.st.(transport.DeadlineNotifier); ok {
		dn.SetDeadlineNotify(deadline, backstop, c.deadlinePassed)
		return
	}
	c.mu.Lock()
	c.timer = time.AfterFunc(time.Until(deadline), c.deadlinePassed)
	c.mu.Unlock()
	ss.st.SetDeadline(backstop)
}

// deadlinePassed ends the context with DeadlineExceeded.
func (c *callCtx) deadlinePassed() { c.end(context.DeadlineExceeded) }

// cancel ends the context with Canceled, if it has not ended, and stops
// its own timer.
func (c *callCtx) cancel() {
	c.end(context.Canceled)
	c.mu.Lock()
	t := c.timer
	c.timer = nil
	c.mu.Unlock()
	if t != nil {
		t.Stop()
	}
}

// end ends the context with err, if it has not ended, and calls what
// was registered to run then: the cancels of derived contexts, which call
// no user code in line, and onDeadline.
func (c *callCtx) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	pending := c.after.End()
	onDeadline := c.onDeadline
	c.onDeadline = nil
	c.mu.Unlock()
	pending.Call()
	if onDeadline != nil && err == context.DeadlineExceeded {
		onDeadline()
	}
}

// setOnDeadline has f called if the context ends by its deadline: on the
// goroutine that ends it, or on a new one if it has already. A
// conversation learns of its deadline so, without a timer of its own.
func (c *callCtx) setOnDeadline(f func()) {
	c.mu.Lock()
	if err := c.err; err != nil {
		c.mu.Unlock()
		if err == context.DeadlineExceeded {
			go f()
		}
		return
	}
	c.onDeadline = f
	c.mu.Unlock()
}

// Deadline implements context.Context.
func (c *callCtx) Deadline() (time.Time, bool) { return c.ss.deadline, !c.ss.deadline.IsZero() }

// Done implements context.Context.
func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Err implements context.Context.
func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value implements context.Context.
func (c *callCtx) Value(key any) any {
	if key == (serverStreamKey{}) {
		return c.ss
	}
	return c.values.Value(key)
}

// String describes the context, for debugging, as the context package's
// do.
func (c *callCtx) String() string { return "parley.callCtx(" + c.ss.method + ")" }

// AfterFunc has f called when the context ends, on the goroutine that
// ends it; stop unregisters it. context.WithCancel, WithDeadline and
// AfterFunc, given this context as parent, use it rather than start a
// goroutine to watch Done: the funcs they register are a derived
// context's cancel, which calls no user code in line.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	return c.after.Add(&c.mu, f)
}
