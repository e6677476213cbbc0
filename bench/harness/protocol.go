package harness

import (
	"net"

	"context"
	"github.com/parleyrpc/parley/protocol"
	prt "github.com/parleyrpc/parley/runtime"
)

// pingPongProtocol is the ping-pong method's protocol: requests and
// responses alternate, one each way at a time, until the client
// half-closes.
const pingPongProtocol = `@protocol { (client Msg; server Msg)* }`

// msgKind is the kind function of a message without a oneof: its one kind.
func msgKind(m *Msg) int {
	if m == nil {
		return -1
	}
	return 0
}

func pingPongMachine() (*protocol.Machine, error) {
	return protocol.CompileText(mPingPong[1:], pingPongProtocol, protocol.Kinds{Client: []string{"Msg"}, Server: []string{"Msg"}})
}

// serveProtocol serves the benchmark service as serveParley does, with
// the ping-pong method checked against its protocol.
func serveProtocol(l net.Listener, cfg serverConfig) (func(), error) {
	m, err := pingPongMachine()
	if err != nil {
		return nil, err
	}
	s := prt.NewServer(prt.MaxConcurrentStreams(cfg.maxStreams))
	registerParley(s, func(call *prt.ServerCall[Msg, Msg]) error {
		return protocol.Serve(call, m, msgKind, msgKind, func(c *protocol.ServerConv[Msg, Msg]) error {
			for {
				req, err := c.Recv()
				if err != nil {
					return nil // io.EOF, or the call is over
				}
				if err := c.Send(&Msg{Data: req.Data}); err != nil {
					return nil
				}
			}
		})
	})
	go s.Serve(l)
	return func() { s.Close() }, nil
}

// protocolConn is a parley client whose ping-pong streams are checked
// against the protocol.
type protocolConn struct {
	parleyConn
	m *protocol.Machine
}

func dialProtocol(addr string) (conn, error) {
	m, err := pingPongMachine()
	if err != nil {
		return nil, err
	}
	c, err := prt.Dial(addr)
	if err != nil {
		return nil, err
	}
	return protocolConn{parleyConn{c}, m}, nil
}

func (p protocolConn) bidi(ctx context.Context) (bidiStream, error) {
	conv, err := protocol.Open(ctx, p.c, mPingPong, p.m, msgKind, msgKind)
	if err != nil {
		return nil, err
	}
	return protocolStream{conv}, nil
}

// protocolStream adapts a checked conversation to bidiStream.
type protocolStream struct {
	conv *protocol.ClientConv[Msg, Msg]
}

func (s protocolStream) send(m *Msg) error   { return s.conv.Send(m) }
func (s protocolStream) recv() (*Msg, error) { return s.conv.Recv() }
func (s protocolStream) closeSend() error    { return s.conv.CloseSend() }
