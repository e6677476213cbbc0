package runtime_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Msg is the test message: a msgpack map keyed by field name.
type Msg struct {
	Text string `msgpack:"text,omitempty"`
	N    int64  `msgpack:"n,omitempty"`
	Data []byte `msgpack:"data,omitempty"`
}

// transport is one way of reaching a server: every behaviour test runs over
// each of them.
type transport struct {
	name    string
	tls     bool
	network string
	framer  bool // both sides on prt.TransportFramer instead of x/net
}

var transports = []transport{
	{"h2c", false, "tcp4", false},
	{"tls", true, "tcp4", false},
	{"h2c-ipv6", false, "tcp6", false},
	{"framer-h2c", false, "tcp4", true},
	{"framer-tls", true, "tcp4", true},
}

// env is a server on a loopback port and a client dialled to it.
type env struct {
	srv    *prt.Server
	client *prt.Client
	addr   string
	tr     transport
}

type envOpts struct {
	server []prt.ServerOption
	dial   []prt.DialOption
}

// newEnv starts a server over tr with the methods register adds and dials
// it; both are closed when the test ends.
func newEnv(t *testing.T, tr transport, register func(s *prt.Server), o envOpts) *env {
	t.Helper()
	sopts := o.server
	dopts := o.dial
	if tr.framer {
		sopts = append([]prt.ServerOption{prt.WithHTTP2Transport(prt.TransportFramer)}, sopts...)
		dopts = append([]prt.DialOption{prt.WithHTTP2Transport(prt.TransportFramer)}, dopts...)
	}
	if tr.tls {
		pki := testutil.NewPKI(t)
		sopts = append([]prt.ServerOption{prt.WithTLS(pki.ServerTLS(false))}, sopts...)
		dopts = append([]prt.DialOption{prt.WithTLS(pki.ClientTLS(false))}, dopts...)
	}
	srv := prt.NewServer(sopts...)
	register(srv)
	l := testutil.Listen(t, tr.network)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	client, err := prt.Dial(l.Addr().String(), dopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
		if err := <-served; !errors.Is(err, prt.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &env{srv: srv, client: client, addr: l.Addr().String(), tr: tr}
}

// forEach runs fn as a subtest over every transport.
func forEach(t *testing.T, fn func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { fn(t, tr) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code wire.Code) *wire.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("got %T %v, want a *wire.Error with %v", err, err, code)
	}
	if we.Code() != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	return we
}

// recvAll drains a call's inbound mailbox and returns the messages and the
// terminal error (nil for a clean end).
func recvAll[Req, Res any](t *testing.T, call *prt.ClientCall[Req, Res]) ([]*Res, error) {
	t.Helper()
	var out []*Res
	for {
		m, err := call.Recv()
		if err != nil {
			if errors.Is(err, errEOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, m)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = net.Listen
