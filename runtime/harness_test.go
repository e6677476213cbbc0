package runtime_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
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
	impl    prt.HTTP2Transport // the HTTP/2 implementation on both sides
	// handler serves through Server.Handler on net/http's HTTP/2 (h2c)
	// instead of Serve; the client uses impl.
	handler bool
}

// transports covers both HTTP/2 implementations, and the server mounted on
// net/http through Server.Handler; the first is the default one
// (TransportFramer) over h2c.
var transports = []transport{
	{"framer-h2c", false, "tcp4", prt.TransportFramer, false},
	{"framer-tls", true, "tcp4", prt.TransportFramer, false},
	{"nethttp-h2c", false, "tcp4", prt.TransportNetHTTP, false},
	{"nethttp-tls", true, "tcp4", prt.TransportNetHTTP, false},
	{"nethttp-h2c-ipv6", false, "tcp6", prt.TransportNetHTTP, false},
	{"handler-h2c", false, "tcp4", prt.TransportFramer, true},
}

// implementations are the h2c transports of each HTTP/2 implementation:
// the hardening tests (hostile peers, rapid reset, lifecycle, keepalive,
// h2spec, fuzzing) run over each with forEachImpl.
var implementations = []string{"framer-h2c", "nethttp-h2c"}

// forEachImpl runs fn as a subtest over the h2c transport of each HTTP/2
// implementation.
func forEachImpl(t *testing.T, fn func(t *testing.T, tr transport)) {
	for _, name := range implementations {
		tr := transportNamed(t, name)
		t.Run(tr.name, func(t *testing.T) { fn(t, tr) })
	}
}

// transportNamed returns the test transport named name.
func transportNamed(t testing.TB, name string) transport {
	for _, tr := range transports {
		if tr.name == name {
			return tr
		}
	}
	t.Fatalf("no test transport named %q", name)
	return transport{}
}

// withTLS returns the transport of the same implementation over TLS.
func (tr transport) withTLS(t testing.TB) transport {
	name, _ := strings.CutSuffix(tr.name, "-h2c")
	return transportNamed(t, name+"-tls")
}

// serverOpts returns the options that select tr's implementation on a
// server, followed by opts.
func (tr transport) serverOpts(opts ...prt.ServerOption) []prt.ServerOption {
	return append([]prt.ServerOption{prt.WithHTTP2Transport(tr.impl)}, opts...)
}

// dialOpts returns the options that select tr's implementation on a
// client, followed by opts.
func (tr transport) dialOpts(opts ...prt.DialOption) []prt.DialOption {
	return append([]prt.DialOption{prt.WithHTTP2Transport(tr.impl)}, opts...)
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
	sopts := tr.serverOpts(o.server...)
	dopts := tr.dialOpts(o.dial...)
	if tr.tls {
		pki := testutil.NewPKI(t)
		sopts = append([]prt.ServerOption{prt.WithTLS(pki.ServerTLS(false))}, sopts...)
		dopts = append([]prt.DialOption{prt.WithTLS(pki.ClientTLS(false))}, dopts...)
	}
	srv := prt.NewServer(sopts...)
	register(srv)
	l := testutil.Listen(t, tr.network)
	served := make(chan error, 1)
	var hs *http.Server
	if tr.handler {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		hs = &http.Server{Handler: srv.Handler(), Protocols: p}
		go func() {
			err := hs.Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				err = prt.ErrServerClosed
			}
			served <- err
		}()
	} else {
		go func() { served <- srv.Serve(l) }()
	}
	client, err := prt.Dial(l.Addr().String(), dopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
		if hs != nil {
			hs.Close()
		}
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
