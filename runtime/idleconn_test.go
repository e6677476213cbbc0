package runtime_test

import (
	"context"
	goruntime "runtime"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
)

// TestIdleConnectionParks checks that an idle connection of the framer
// transport keeps only its reading goroutine on each side (the writers
// exit after a second with nothing to write, giving back their buffers),
// and that it serves calls again afterwards, unary and streaming.
func TestIdleConnectionParks(t *testing.T) {
	tr := transportNamed(t, "framer-h2c")
	e := newEnv(t, tr, func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Idle/Echo", func(_ context.Context, m *Msg) (*Msg, error) { return m, nil })
		prt.HandleBidi(s, "/test.Idle/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			for {
				m, err := call.Recv()
				if err != nil {
					return nil
				}
				if err := call.Send(m); err != nil {
					return err
				}
			}
		})
	}, envOpts{})
	base := goruntime.NumGoroutine()
	call := func() {
		t.Helper()
		res, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, "/test.Idle/Echo", &Msg{Text: "hi"})
		if err != nil || res.Text != "hi" {
			t.Fatalf("CallUnary = %v, %v", res, err)
		}
	}
	call()
	// A reader and a writer on each side while busy; the writers park.
	waitFor(t, "the writers to park", func() bool { return goruntime.NumGoroutine() <= base+2 })
	for range 3 {
		call()
		bidi, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Idle/Bidi")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := bidi.Send(&Msg{N: int64(i)}); err != nil {
				t.Fatal(err)
			}
			if m, err := bidi.Recv(); err != nil || m.N != int64(i) {
				t.Fatalf("Recv = %v, %v", m, err)
			}
		}
		_ = bidi.CloseSend()
		if _, err := recvAll(t, bidi); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the writers to park again", func() bool { return goruntime.NumGoroutine() <= base+2 })
	}
}
