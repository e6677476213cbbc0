package harness

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchService is the handler type of grpcDesc; the handlers need no state.
type benchService interface{}

// grpcDesc is the benchmark service for grpc-go, written by hand as
// protoc-gen-go-grpc would generate it.
var grpcDesc = grpc.ServiceDesc{
	ServiceName: service,
	HandlerType: (*benchService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(Msg)
			if err := dec(req); err != nil {
				return nil, err
			}
			return &Msg{Data: req.Data}, nil
		},
	}},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "PingPong",
			ServerStreams: true,
			ClientStreams: true,
			Handler:       grpcEcho,
		},
		{
			StreamName:    "Converse",
			ServerStreams: true,
			ClientStreams: true,
			Handler:       grpcEcho,
		},
		{
			StreamName:    "Flood",
			ServerStreams: true,
			Handler: func(_ any, st grpc.ServerStream) error {
				req := new(Msg)
				if err := st.RecvMsg(req); err != nil {
					return err
				}
				m := &Msg{Data: req.Data}
				for i := int64(0); req.N == 0 || i < req.N; i++ {
					if err := st.SendMsg(m); err != nil {
						return nil
					}
				}
				return nil
			},
		},
		{
			StreamName:    "Sink",
			ClientStreams: true,
			Handler: func(_ any, st grpc.ServerStream) error {
				var n int64
				for {
					if err := st.RecvMsg(new(Msg)); err != nil {
						return st.SendMsg(&Msg{N: n})
					}
					n++
				}
			},
		},
	},
}

// grpcEcho serves mPingPong and mConverse: it echoes every request.
func grpcEcho(_ any, st grpc.ServerStream) error {
	for {
		req := new(Msg)
		if err := st.RecvMsg(req); err != nil {
			return nil
		}
		if err := st.SendMsg(&Msg{Data: req.Data}); err != nil {
			return nil
		}
	}
}

var (
	grpcConverseDesc = &grpc.StreamDesc{StreamName: "Converse", ServerStreams: true, ClientStreams: true}
	grpcPingPongDesc = &grpc.StreamDesc{StreamName: "PingPong", ServerStreams: true, ClientStreams: true}
	grpcFloodDesc    = &grpc.StreamDesc{StreamName: "Flood", ServerStreams: true}
	grpcSinkDesc     = &grpc.StreamDesc{StreamName: "Sink", ClientStreams: true}
)

// serveGRPC serves the benchmark service with grpc-go at its defaults,
// MaxConcurrentStreams aside.
func serveGRPC(l net.Listener, cfg serverConfig) func() {
	s := grpc.NewServer(grpc.MaxConcurrentStreams(cfg.maxStreams))
	s.RegisterService(&grpcDesc, struct{}{})
	go s.Serve(l)
	return s.Stop
}

// grpcConn is a grpc-go ClientConn: one HTTP/2 connection to one address.
type grpcConn struct{ cc *grpc.ClientConn }

func dialGRPC(addr string) (conn, error) {
	// passthrough: no name resolution, as parley does none.
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(grpcCodec{}.Name())),
	)
	if err != nil {
		return nil, err
	}
	return grpcConn{cc}, nil
}

func (g grpcConn) unary(ctx context.Context, req *Msg) (*Msg, error) {
	res := new(Msg)
	if err := g.cc.Invoke(ctx, mUnary, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (g grpcConn) bidi(ctx context.Context) (bidiStream, error) {
	st, err := g.cc.NewStream(ctx, grpcPingPongDesc, mPingPong)
	if err != nil {
		return nil, err
	}
	return grpcStream{st}, nil
}

func (g grpcConn) converse(ctx context.Context) (bidiStream, error) {
	st, err := g.cc.NewStream(ctx, grpcConverseDesc, mConverse)
	if err != nil {
		return nil, err
	}
	return grpcStream{st}, nil
}

func (g grpcConn) flood(ctx context.Context, req *Msg) (recvStream, error) {
	st, err := g.cc.NewStream(ctx, grpcFloodDesc, mFlood)
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return grpcStream{st}, nil
}

func (g grpcConn) sink(ctx context.Context) (sinkStream, error) {
	st, err := g.cc.NewStream(ctx, grpcSinkDesc, mSink)
	if err != nil {
		return nil, err
	}
	return grpcStream{st}, nil
}

func (g grpcConn) close() error { return g.cc.Close() }

// grpcStream adapts a grpc.ClientStream to the stream interfaces.
type grpcStream struct{ st grpc.ClientStream }

func (s grpcStream) send(m *Msg) error { return s.st.SendMsg(m) }

func (s grpcStream) recv() (*Msg, error) {
	m := new(Msg)
	if err := s.st.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s grpcStream) closeSend() error { return s.st.CloseSend() }

func (s grpcStream) closeAndRecv() (*Msg, error) {
	if err := s.st.CloseSend(); err != nil {
		return nil, err
	}
	return s.recv()
}
