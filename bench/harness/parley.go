package harness

import (
	"context"
	"net"

	prt "github.com/parleyrpc/parley/runtime"
)

// serveParley serves the benchmark service with parley's runtime at its
// defaults, MaxConcurrentStreams aside.
func serveParley(l net.Listener, cfg serverConfig) func() {
	s := prt.NewServer(prt.MaxConcurrentStreams(cfg.maxStreams))
	registerParley(s, func(call *prt.ServerCall[Msg, Msg]) error {
		for {
			req, err := call.Recv()
			if err != nil {
				return nil // io.EOF, or the call is over
			}
			if err := call.Send(&Msg{Data: req.Data}); err != nil {
				return nil
			}
		}
	})
	go s.Serve(l)
	return func() { s.Close() }
}

// registerParley registers the benchmark service on s with pingPong as
// the ping-pong method's handler.
func registerParley(s *prt.Server, pingPong func(call *prt.ServerCall[Msg, Msg]) error) {
	prt.HandleUnary(s, mUnary, func(_ context.Context, req *Msg) (*Msg, error) {
		return &Msg{Data: req.Data}, nil
	})
	prt.HandleBidi(s, mPingPong, pingPong)
	prt.HandleConversation(s, mConverse, prt.BidiStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
		return echoReactor{c}, nil
	})
	prt.HandleServerStream(s, mFlood, func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
		m := &Msg{Data: req.Data}
		for i := int64(0); req.N == 0 || i < req.N; i++ {
			if err := call.Send(m); err != nil {
				return nil
			}
		}
		return nil
	})
	prt.HandleClientStream(s, mSink, func(call *prt.ServerCall[Msg, Msg]) (*Msg, error) {
		var n int64
		for {
			if _, err := call.Recv(); err != nil {
				return &Msg{N: n}, nil
			}
			n++
		}
	})
}

// parleyConn is a parley client: one HTTP/2 connection.
type parleyConn struct{ c *prt.Client }

func dialParley(addr string) (conn, error) {
	c, err := prt.Dial(addr)
	if err != nil {
		return nil, err
	}
	return parleyConn{c}, nil
}

func (p parleyConn) unary(ctx context.Context, req *Msg) (*Msg, error) {
	return prt.CallUnary[Msg, Msg](ctx, p.c, mUnary, req)
}

func (p parleyConn) bidi(ctx context.Context) (bidiStream, error) {
	call, err := prt.Open[Msg, Msg](ctx, p.c, mPingPong)
	if err != nil {
		return nil, err
	}
	return parleyStream{call}, nil
}

func (p parleyConn) converse(ctx context.Context) (bidiStream, error) {
	call, err := prt.Open[Msg, Msg](ctx, p.c, mConverse)
	if err != nil {
		return nil, err
	}
	return parleyStream{call}, nil
}

// echoReactor serves mConverse: each request is echoed from the event's
// own goroutine; between requests the conversation holds none.
type echoReactor struct{ c *prt.Conversation[Msg, Msg] }

func (r echoReactor) OnMessage(req *Msg) error {
	return r.c.Send(r.c.Context(), &Msg{Data: req.Data})
}

func (r echoReactor) OnHalfClose() error { r.c.Finish(nil); return nil }
func (r echoReactor) OnDone(error)       {}

func (p parleyConn) flood(ctx context.Context, req *Msg) (recvStream, error) {
	call, err := prt.OpenServerStream[Msg, Msg](ctx, p.c, mFlood, req)
	if err != nil {
		return nil, err
	}
	return parleyStream{call}, nil
}

func (p parleyConn) sink(ctx context.Context) (sinkStream, error) {
	call, err := prt.Open[Msg, Msg](ctx, p.c, mSink)
	if err != nil {
		return nil, err
	}
	return parleyStream{call}, nil
}

func (p parleyConn) close() error { return p.c.Close() }

// parleyStream adapts a parley ClientCall to the stream interfaces.
type parleyStream struct{ call *prt.ClientCall[Msg, Msg] }

func (s parleyStream) send(m *Msg) error           { return s.call.Send(m) }
func (s parleyStream) recv() (*Msg, error)         { return s.call.Recv() }
func (s parleyStream) closeSend() error            { return s.call.CloseSend() }
func (s parleyStream) closeAndRecv() (*Msg, error) { return s.call.CloseAndRecv() }
