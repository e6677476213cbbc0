package runtime

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"
	"time"
)

type ctxKey string

// TestCallCtx: a call's context has the stream's values and the call
// under serverStreamKey, ends once with the first reason, cancels the
// contexts derived from it without a goroutine each, and lets them stop
// watching it.
func TestCallCtx(t *testing.T) {
	ss := &serverCore{method: "/test.S/M"}
	values := context.WithValue(context.Background(), ctxKey("k"), "v")
	ss.cctx.init(ss, context.WithoutCancel(values))
	ctx := context.Context(&ss.cctx)

	if _, ok := ctx.Deadline(); ok {
		t.Error("a context without a deadline has one")
	}
	if ctx.Value(ctxKey("k")) != "v" || ctx.Value(serverStreamKey{}) != ss || ctx.Value(ctxKey("x")) != nil {
		t.Errorf("values: %v, %v, %v", ctx.Value(ctxKey("k")), ctx.Value(serverStreamKey{}), ctx.Value(ctxKey("x")))
	}
	if ss.cctx.done != nil {
		t.Error("Done's channel made before anyone asked for it")
	}

	// Derived contexts register with it: no goroutine each.
	before := goruntime.NumGoroutine()
	const n = 50
	children := make([]context.Context, n)
	stops := make([]context.CancelFunc, n)
	for i := range children {
		children[i], stops[i] = context.WithCancel(ctx)
	}
	timed, stopTimed := context.WithTimeout(ctx, time.Hour)
	defer stopTimed()
	ran := make(chan struct{}, 2)
	context.AfterFunc(ctx, func() { ran <- struct{}{} })
	stopped := context.AfterFunc(ctx, func() { ran <- struct{}{} })
	if after := goruntime.NumGoroutine(); after > before {
		t.Errorf("%d derived contexts started %d goroutines", n+3, after-before)
	}
	stops[0]() // a child cancelled first unregisters
	if !stopped() {
		t.Error("stopping an AfterFunc before the end: false")
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err before the end: %v", err)
	}

	ss.cctx.end(context.DeadlineExceeded)
	ss.cctx.cancel() // too late: the first reason stays
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) || context.Cause(ctx) != err {
		t.Fatalf("Err %v, Cause %v: want DeadlineExceeded", err, context.Cause(ctx))
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done not closed at the end")
	}
	for i, c := range children {
		if i > 0 && !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("child %d: %v, want DeadlineExceeded", i, c.Err())
		}
	}
	if !errors.Is(timed.Err(), context.DeadlineExceeded) {
		t.Errorf("derived WithTimeout: %v", timed.Err())
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc's func did not run")
	}
	time.Sleep(10 * time.Millisecond)
	if len(ran) != 0 {
		t.Error("a stopped AfterFunc ran")
	}

	// Registering after the end runs the func at once (on a goroutine),
	// and a context derived then is done at once.
	late := make(chan struct{})
	if context.AfterFunc(ctx, func() { close(late) })() {
		t.Error("stop after the end: true")
	}
	<-late
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Err() == nil {
		t.Error("a context derived after the end is not done")
	}
}

// TestCallCtxOnDeadline: setOnDeadline's func runs when the deadline
// ends the context, not when cancel does, and at once (on a goroutine)
// for a context its deadline has already ended.
func TestCallCtxOnDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		end      func(c *callCtx)
		setAfter bool
		want     bool
	}{
		{"deadline", func(c *callCtx) { c.deadlinePassed() }, false, true},
		{"cancel", func(c *callCtx) { c.cancel() }, false, false},
		{"deadline before", func(c *callCtx) { c.deadlinePassed() }, true, true},
		{"cancel before", func(c *callCtx) { c.cancel() }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := &serverCore{}
			ss.cctx.init(ss, context.Background())
			called := make(chan struct{}, 1)
			f := func() { called <- struct{}{} }
			if !tc.setAfter {
				ss.cctx.setOnDeadline(f)
			}
			tc.end(&ss.cctx)
			if tc.setAfter {
				ss.cctx.setOnDeadline(f)
			}
			select {
			case <-called:
				if !tc.want {
					t.Fatal("called")
				}
			case <-time.After(100 * time.Millisecond):
				if tc.want {
					t.Fatal("not called")
				}
			}
		})
	}
}
