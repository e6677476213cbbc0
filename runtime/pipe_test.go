package runtime_test

import (
	"context"
	"errors"
	"net"
	"sync"
)

// pipeListener is an in-memory net.Listener: each dial makes a net.Pipe
// and hands one end to Accept. Our tests use real loopback sockets; this
// one is for tests of timing policies (keepalive), which run inside a
// testing/synctest bubble: there, a goroutine blocked on a pipe is durably
// blocked (a socket's would not be), so the bubble's fake clock moves only
// once every goroutine waits, and each timer fires exactly on time however
// loaded the machine is. Create it inside the bubble that uses it.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errPipeListenerClosed = errors.New("pipe listener closed")

// Accept implements net.Listener.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener. Any "host:port" does as a client's
// target: the client reaches the listener through dial (WithDialer).
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects to the listener: it is a client's WithDialer function.
func (l *pipeListener) dial(ctx context.Context, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errPipeListenerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeAddr is a pipeListener's address: a loopback "host:port", so that it
// parses as a target and as a peer address.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:1" }
