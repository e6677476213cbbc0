package harness

import (
	"context"
	"fmt"
	"net"
)

// Implementation names, as given to -impl.
const (
	implParley = "parley"
	implGRPC   = "grpc"
	implRaw    = "raw"
	// implProtocol is parley with the ping-pong method under a declared
	// protocol, checked on both sides (protocol.Serve, protocol.Open); its
	// other methods are plain parley.
	implProtocol = "protocol"
)

// conn is one client connection of either implementation, seen by the
// workloads through the same interface so that dispatch costs the same
// for both. A conn is safe for concurrent use; each stream it opens is
// used by one goroutine.
type conn interface {
	// unary makes one call of mUnary.
	unary(ctx context.Context, req *Msg) (*Msg, error)
	// bidi opens a stream of mPingPong; the stream ends when ctx does.
	bidi(ctx context.Context) (bidiStream, error)
	// converse opens a stream of mConverse; it ends when ctx does.
	converse(ctx context.Context) (bidiStream, error)
	// flood opens a stream of mFlood with req; it ends when ctx does.
	flood(ctx context.Context, req *Msg) (recvStream, error)
	// sink opens a stream of mSink; it ends when ctx does.
	sink(ctx context.Context) (sinkStream, error)
	// close closes the connection.
	close() error
}

// bidiStream is the client's side of a bidirectional stream.
type bidiStream interface {
	send(*Msg) error
	recv() (*Msg, error)
	closeSend() error
}

// recvStream is the client's side of a server stream.
type recvStream interface {
	recv() (*Msg, error)
}

// sinkStream is the client's side of a client stream.
type sinkStream interface {
	send(*Msg) error
	closeAndRecv() (*Msg, error)
}

// dialer opens a conn of one implementation to addr; it need not connect
// before the first call.
type dialer func(addr string) (conn, error)

func dialerFor(impl string) (dialer, error) {
	switch impl {
	case implParley:
		return dialParley, nil
	case implGRPC:
		return dialGRPC, nil
	case implProtocol:
		return dialProtocol, nil
	}
	return nil, fmt.Errorf("unknown client implementation %q (want %s, %s or %s)", impl, implParley, implGRPC, implProtocol)
}

// serverConfig is what a benchmark server needs to know.
type serverConfig struct {
	// maxStreams is the server's HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS:
	// raised above both defaults so that the idle-streams cell fits on
	// one connection.
	maxStreams uint32
}

// serve runs a server of impl on l until stop is called.
func serve(impl string, l net.Listener, cfg serverConfig) (stop func(), err error) {
	switch impl {
	case implParley:
		return serveParley(l, cfg), nil
	case implProtocol:
		return serveProtocol(l, cfg)
	case implGRPC:
		return serveGRPC(l, cfg), nil
	case implRaw:
		return serveRaw(l, cfg), nil
	case implChatParley:
		return serveChatParley(l, false), nil
	case implChatParleyUnchecked:
		return serveChatParley(l, true), nil
	case implChatGRPC:
		return serveChatGRPC(l, cfg), nil
	}
	return nil, fmt.Errorf("unknown server implementation %q", impl)
}
