package actor

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/parleyrpc/parley/mailbox"
)

// Handler handles one message. The actor calls it from its own goroutine,
// one message at a time, so the state it closes over needs no locking as
// long as only the handler, the init hook and the stop hook touch it.
//
// ctx depends on how the message was sent:
//   - Ask: the asker's context (values, deadline, cancellation), also
//     cancelled if the actor is stopped with Discard or its spawn context
//     ends. The asker's deadline therefore crosses the actor boundary.
//   - Tell: the sender's values only (trace IDs, metadata), but neither its
//     deadline nor its cancellation, since a fire-and-forget sender may be
//     gone long before the message is handled; it carries the spawn
//     context's deadline and is cancelled when the actor is stopped with
//     Discard or its spawn context ends.
//
// Returning nil means the message was handled. Returning ErrStop stops the
// actor normally. Any other error, like a panic, is a failure: it is logged,
// given to the Ask whose request it was (if that Ask has no reply yet), and
// the supervisor restarts the actor within its budget. The failed message is
// lost; queued messages are kept for the next incarnation.
type Handler[M any] func(ctx context.Context, msg M) error

// StopMode says what Stop does with the messages still queued.
type StopMode int

const (
	// Drain refuses new messages but handles those already queued before
	// stopping. The message being handled is not interrupted.
	Drain StopMode = iota
	// Discard refuses new messages, cancels the context of the message
	// being handled and stops without handling queued messages; queued Asks
	// fail with ErrStopped at once.
	Discard
)

// errDiscard is the cancellation cause of Ref.life for Stop(Discard); it
// never escapes: Err reports nil for such a stop.
var errDiscard = errors.New("actor: stopped (discard)")

// envelope is one queued message with what the actor needs to handle it.
type envelope[M any] struct {
	msg M
	// ctx is the sender's context: the asker's for an Ask, the teller's for
	// a Tell (nil when it was context.Background, to skip wrapping it).
	ctx context.Context
	// reply is the Ask's reply slot, nil for a Tell.
	reply replier
}

// replier is the type-erased side of an Ask's reply slot that the actor uses
// to fail a request it could not handle.
type replier interface {
	fail(err error) bool
}

// Ref is the address of a running actor: the only way to reach it. A *Ref is
// safe for concurrent use by any number of goroutines, including the actor's
// own handler (which may Tell itself, but must not block on a full mailbox
// of its own or Wait for itself).
//
// *Ref[M] implements mailbox.Sender[M], so Forward and Group can deliver to
// an actor exactly as to a conversation's outbound mailbox.
type Ref[M any] struct {
	// cfg and handler are set by Spawn and read-only afterwards; only the
	// actor goroutine calls handler and the hooks in cfg.
	cfg     *config
	handler Handler[M]

	// mb is the actor's mailbox. Senders (Tell, Ask, Send, TrySend) write to
	// it from any goroutine; only the actor goroutine receives from it,
	// except that DropOldest senders evict the oldest message with TryRecv.
	// Stop and the actor goroutine close it.
	mb *mailbox.Mailbox[envelope[M]]

	// life is cancelled when the actor must stop at once: its spawn context
	// ended (cause: the spawn context's cause) or Stop(Discard) was called
	// (cause: errDiscard). Handler contexts derive from it. cancel is
	// called by Stop and by the actor goroutine when it exits.
	life   context.Context
	cancel context.CancelCauseFunc

	// exited is cancelled by the actor goroutine, after it has written err,
	// when the actor has stopped for good: Done is exited.Done() and Watch
	// is context.AfterFunc(exited, ...).
	exited     context.Context
	markExited context.CancelFunc
	// err is the stop reason. Written once by the actor goroutine before
	// markExited; read by anyone after Done is closed.
	err error

	dropped atomic.Uint64 // evictions by DropOldest; written by senders
	// stopDiscarded counts the messages Stop(Discard), or the end of the
	// spawn context, dropped; written by Stop and by stopOnEnd, read by
	// the actor goroutine's finish for its log.
	stopDiscarded atomic.Uint64
	// stopOnEnd removes the watch on the spawn context (Spawn); called
	// by finish.
	stopOnEnd func() bool
}

// Process is the part of a *Ref that does not depend on its message type:
// enough to stop, wait for and watch actors of different types together.
// Every *Ref[M] implements it; its methods are safe for concurrent use.
type Process interface {
	Name() string
	Stop(mode StopMode)
	Done() <-chan struct{}
	Err() error
	Wait(ctx context.Context) error
	Watch(fn func(reason error)) (cancel func() bool)
}

var (
	_ Process             = (*Ref[int])(nil)
	_ mailbox.Sender[int] = (*Ref[int])(nil)
)

// Spawn starts an actor that handles messages of type M with handler and
// returns its address. The actor runs on a goroutine of its own until it is
// stopped (Stop, a handler returning ErrStop), its spawn ctx ends, or it
// fails more often than its restart budget allows. Spawn never blocks: the
// init hook runs on the actor's goroutine.
//
// ctx bounds the actor's life and its values are visible to handlers; when
// ctx ends the actor stops as with Stop(Discard) and Err reports
// context.Cause(ctx). Spawn panics if handler is nil.
func Spawn[M any](ctx context.Context, handler Handler[M], opts ...Option) *Ref[M] {
	if handler == nil {
		panic("actor: Spawn with nil handler")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := newConfig(opts)
	r := &Ref[M]{
		cfg:     cfg,
		handler: handler,
		mb:      mailbox.New[envelope[M]](cfg.size),
	}
	r.life, r.cancel = context.WithCancelCause(ctx)
	r.exited, r.markExited = context.WithCancel(context.Background())
	// The end of ctx stops the actor as Stop(Discard) does: from then on
	// it refuses messages, and what is queued is dropped at once, not
	// when the handler in progress, which may not heed its context,
	// returns.
	r.stopOnEnd = context.AfterFunc(ctx, func() {
		r.mb.Close(mailbox.End{})
		r.stopDiscarded.Add(uint64(r.discardQueued()))
	})
	go r.run()
	return r
}

// Name returns the actor's name (WithName). Safe for concurrent use.
func (r *Ref[M]) Name() string { return r.cfg.name }

// Tell queues msg for the actor and returns without waiting for it to be
// handled. When the mailbox is full it waits, fails or evicts according to
// the overflow policy chosen at Spawn (see Overflow); with Block it returns
// ctx.Err() if ctx ends first. It returns ErrStopped once the actor is
// stopping. Messages from one goroutine are handled in the order it told
// them. Safe for concurrent use.
//
// The handler sees ctx's values but not its deadline or cancellation (see
// Handler).
func (r *Ref[M]) Tell(ctx context.Context, msg M) error {
	env := envelope[M]{msg: msg}
	if ctx != nil && ctx != context.Background() {
		env.ctx = ctx
	} else {
		ctx = context.Background()
	}
	return r.send(ctx, env)
}

// Send is Tell, so that *Ref[M] is a mailbox.Sender[M]. Safe for concurrent
// use.
func (r *Ref[M]) Send(ctx context.Context, msg M) error { return r.Tell(ctx, msg) }

// TrySend queues msg if the mailbox has room and returns ErrMailboxFull
// otherwise, whatever the overflow policy; ErrStopped once the actor is
// stopping. It never waits. Safe for concurrent use.
func (r *Ref[M]) TrySend(msg M) error {
	return mapSendErr(r.mb.TrySend(envelope[M]{msg: msg}))
}

// Len reports how many messages are queued. Safe for concurrent use.
func (r *Ref[M]) Len() int { return r.mb.Len() }

// Dropped reports how many messages the DropOldest policy has evicted so
// far. Safe for concurrent use.
func (r *Ref[M]) Dropped() uint64 { return r.dropped.Load() }

// Stop asks the actor to stop and returns at once; use Done or Wait to learn
// when it has. New messages are refused with ErrStopped from the moment Stop
// is called. mode says whether queued messages are still handled (Drain) or
// discarded (Discard). Stop is idempotent and safe for concurrent use, also
// from the actor's own handler; a Discard after a Drain cuts the drain short.
// Err reports nil for an actor stopped this way.
func (r *Ref[M]) Stop(mode StopMode) {
	if mode == Discard {
		r.cancel(errDiscard)
	}
	r.mb.Close(mailbox.End{})
	if mode == Discard {
		// Here rather than on the actor's goroutine, which may be held
		// by a handler that does not heed its cancelled context.
		r.stopDiscarded.Add(uint64(r.discardQueued()))
	}
}

// discardQueued drops the messages queued in the closed mailbox, failing
// their Asks with ErrStopped, and returns how many there were. Any
// goroutine.
func (r *Ref[M]) discardQueued() int {
	n := 0
	for {
		env, ok, _ := r.mb.TryRecv()
		if !ok {
			return n
		}
		n++
		if env.reply != nil {
			env.reply.fail(ErrStopped)
		}
	}
}

// Done returns a channel that is closed once the actor has stopped for good:
// its handler and hooks have returned and its mailbox has been emptied. Safe
// for concurrent use.
func (r *Ref[M]) Done() <-chan struct{} { return r.exited.Done() }

// Err returns why the actor stopped, once Done is closed, and nil before
// that: nil for a normal stop (Stop, ErrStop), context.Cause of the spawn
// context if that ended, or a *RestartLimitError if the actor kept failing.
// Safe for concurrent use.
func (r *Ref[M]) Err() error {
	select {
	case <-r.exited.Done():
		return r.err
	default:
		return nil
	}
}

// Wait blocks until the actor has stopped and returns Err, or returns
// ctx.Err() if ctx ends first. Safe for concurrent use; it must not be
// called from the actor's own handler or hooks.
func (r *Ref[M]) Wait(ctx context.Context) error {
	select {
	case <-r.exited.Done():
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Watch arranges for fn to be called with the stop reason (what Err
// returns) once the actor has stopped, on a goroutine of its own, as
// context.AfterFunc does; if the actor has already stopped, fn is started at
// once. The returned cancel removes the watch and reports whether it did so
// before fn was started. Safe for concurrent use.
func (r *Ref[M]) Watch(fn func(reason error)) (cancel func() bool) {
	return context.AfterFunc(r.exited, func() { fn(r.err) })
}

// send applies the overflow policy. It runs on the sender's goroutine.
func (r *Ref[M]) send(ctx context.Context, env envelope[M]) error {
	switch r.cfg.overflow {
	case Reject:
		return mapSendErr(r.mb.TrySend(env))
	case DropOldest:
		for {
			err := r.mb.TrySend(env)
			if !errors.Is(err, mailbox.ErrFull) {
				return mapSendErr(err)
			}
			// Evict the oldest message ourselves rather than with
			// SendDropOldest, so an evicted Ask can be told at once.
			if old, ok, _ := r.mb.TryRecv(); ok {
				r.dropped.Add(1)
				if old.reply != nil {
					old.reply.fail(ErrDropped)
				}
			}
		}
	default:
		return mapSendErr(r.mb.Send(ctx, env))
	}
}

func mapSendErr(err error) error {
	switch err {
	case mailbox.ErrClosed:
		return ErrStopped
	case mailbox.ErrFull:
		return ErrMailboxFull
	}
	return err
}

// ---- the actor goroutine ----
//
// Everything below runs on the actor goroutine started by Spawn, which owns
// the restart bookkeeping and is the only caller of the handler and hooks.

func (r *Ref[M]) run() {
	var (
		restarts []time.Time // restarts inside the current period
		reason   error
	)
	for {
		failure, stopped := r.incarnation()
		if stopped {
			reason = failure
			break
		}
		now := time.Now()
		restarts = pruneBefore(restarts, now.Add(-r.cfg.period))
		if len(restarts) >= r.cfg.intensity {
			reason = &RestartLimitError{Name: r.cfg.name, Restarts: len(restarts), Period: r.cfg.period, Last: failure}
			r.cfg.logger.Error("actor stopped: restart budget exhausted",
				slog.String("actor", r.cfg.name), slog.Int("restarts", len(restarts)),
				slog.Duration("period", r.cfg.period), slog.Any("err", failure))
			break
		}
		restarts = append(restarts, now)
		delay := backoff(r.cfg.backoffMin, r.cfg.backoffMax, len(restarts))
		r.cfg.logger.Warn("actor restarting",
			slog.String("actor", r.cfg.name), slog.Int("restart", len(restarts)),
			slog.Duration("backoff", delay))
		if !r.sleep(delay) {
			reason = r.lifeReason()
			break
		}
	}
	r.finish(reason)
}

// incarnation runs init, the message loop and the stop hook once. It returns
// the failure and false if the supervisor should consider a restart, or the
// stop reason and true if the actor is done.
func (r *Ref[M]) incarnation() (err error, stopped bool) {
	if r.life.Err() != nil {
		return r.lifeReason(), true
	}
	if r.cfg.init != nil {
		if err := r.safeInit(); err != nil {
			if errors.Is(err, ErrStop) {
				return nil, true
			}
			r.logFailure("actor init failed", err)
			return err, false
		}
	}
	err, stopped = r.loop()
	if r.cfg.stop != nil {
		r.safeStop(err)
	}
	return err, stopped
}

// loop handles messages until the actor must stop or a handler fails.
func (r *Ref[M]) loop() (err error, stopped bool) {
	c := r.mb.C()
	done := r.life.Done()
	for {
		// Check life first so that Stop(Discard) wins over a full mailbox.
		select {
		case <-done:
			return r.lifeReason(), true
		default:
		}
		select {
		case env, ok := <-c:
			if !ok {
				return nil, true // Stop(Drain): closed and drained
			}
			if r.life.Err() != nil {
				// Stopped at once while this one was taken: it is
				// discarded, not handled.
				if env.reply != nil {
					env.reply.fail(ErrStopped)
				}
				return r.lifeReason(), true
			}
			if err := r.handle(env); err != nil {
				if errors.Is(err, ErrStop) {
					return nil, true
				}
				r.logFailure("actor failed", err)
				return err, false
			}
		case <-done:
			return r.lifeReason(), true
		}
	}
}

// handle calls the handler for one message, turning a panic into a
// *PanicError and failing the message's Ask, if any, when the handler fails.
func (r *Ref[M]) handle(env envelope[M]) (err error) {
	var ctx context.Context
	switch {
	case env.reply != nil:
		if cerr := env.ctx.Err(); cerr != nil {
			// The asker has given up: skip the work.
			env.reply.fail(cerr)
			return nil
		}
		hctx, cancel := context.WithCancelCause(env.ctx)
		stop := context.AfterFunc(r.life, func() { cancel(context.Cause(r.life)) })
		defer func() {
			stop()
			cancel(nil)
		}()
		ctx = hctx
	case env.ctx != nil:
		ctx = &tellContext{Context: r.life, values: context.WithoutCancel(env.ctx)}
	default:
		ctx = r.life
	}
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
		if err != nil && env.reply != nil {
			if errors.Is(err, ErrStop) {
				env.reply.fail(ErrStopped)
			} else {
				env.reply.fail(err)
			}
		}
	}()
	return r.handler(ctx, env.msg)
}

func (r *Ref[M]) safeInit() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return r.cfg.init(r.life)
}

func (r *Ref[M]) safeStop(reason error) {
	defer func() {
		if p := recover(); p != nil {
			r.logFailure("actor stop hook panicked", &PanicError{Value: p, Stack: debug.Stack()})
		}
	}()
	r.cfg.stop(context.WithoutCancel(r.life), reason)
}

func (r *Ref[M]) logFailure(msg string, err error) {
	attrs := []any{slog.String("actor", r.cfg.name), slog.Any("err", err)}
	var pe *PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", string(pe.Stack)))
	}
	r.cfg.logger.Error(msg, attrs...)
}

// lifeReason is the stop reason once life is done: nil for Stop(Discard),
// the spawn context's cause otherwise.
func (r *Ref[M]) lifeReason() error {
	if cause := context.Cause(r.life); cause != errDiscard {
		return cause
	}
	return nil
}

// sleep waits d, or returns false early if the actor must stop at once.
func (r *Ref[M]) sleep(d time.Duration) bool {
	if d <= 0 {
		return r.life.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.life.Done():
		return false
	}
}

// finish closes the mailbox, fails what is still queued, publishes the
// reason and wakes Done, Wait and watchers.
func (r *Ref[M]) finish(reason error) {
	r.stopOnEnd()
	r.mb.Close(mailbox.End{Err: reason})
	discarded := r.discardQueued() + int(r.stopDiscarded.Load())
	var limit *RestartLimitError
	exhausted := errors.As(reason, &limit)
	if discarded > 0 {
		level := slog.LevelDebug
		if exhausted {
			level = slog.LevelWarn
		}
		r.cfg.logger.Log(context.Background(), level, "actor stopped with messages queued",
			slog.String("actor", r.cfg.name), slog.Int("discarded", discarded))
	}
	switch {
	case exhausted:
		// Already logged at level Error by run.
	case reason != nil:
		// The spawn context ended: a shutdown, not a failure.
		r.cfg.logger.Info("actor stopped", slog.String("actor", r.cfg.name), slog.Any("reason", reason))
	default:
		r.cfg.logger.Debug("actor stopped", slog.String("actor", r.cfg.name))
	}
	r.cancel(ErrStopped)
	r.err = reason
	r.markExited()
}

// tellContext is a Tell handler's context: deadline, cancellation and
// fallback values from the actor's life, values from the sender first.
type tellContext struct {
	context.Context                 // the actor's life
	values          context.Context // the sender's context without its cancellation
}

func (c *tellContext) Value(key any) any {
	if v := c.values.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

// backoff returns min·2^(n-1), capped at max, for the n-th restart.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
