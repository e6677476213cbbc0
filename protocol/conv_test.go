package protocol_test

import (
	"context"
	"errors"
	"io"
	"net"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Ev is a hand-written message whose kind is a string, as a handler on the
// untyped runtime API would have.
type Ev struct {
	Kind string `msgpack:"kind"`
	Text string `msgpack:"text"`
}

var (
	clientKinds = []string{"join", "say", "leave"}
	serverKinds = []string{"joined", "message", "left"}
)

func kindOf(list []string) func(*Ev) int {
	return func(e *Ev) int {
		for i, k := range list {
			if e != nil && e.Kind == k {
				return i
			}
		}
		return -1
	}
}

const method = "/room.v1.Room/Talk"

// roomProtocol: join, joined, then says while the room streams messages,
// ended by leave and left.
const roomProtocol = `@protocol {
  client join
  server joined
  (client say*; client leave) & server message*
  server left
}`

func machine(t *testing.T) *protocol.Machine {
	t.Helper()
	m, err := protocol.CompileText("room.v1.Room/Talk", roomProtocol, protocol.Kinds{Client: clientKinds, Server: serverKinds})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// serve starts a loopback server with h on method and returns a client.
func serve(t *testing.T, h func(*runtime.ServerCall[Ev, Ev]) error) *runtime.Client {
	t.Helper()
	return listen(t, func(srv *runtime.Server) { runtime.HandleBidi(srv, method, h) })
}

// listen starts a loopback server with what register registers and
// returns a client.
func listen(t *testing.T, register func(*runtime.Server)) *runtime.Client {
	t.Helper()
	srv := runtime.NewServer()
	register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	c, err := runtime.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkedServer is a hand-written handler under the protocol: it follows
// it, answering each say with a message, until leave.
func checkedServer(m *protocol.Machine) func(*runtime.ServerCall[Ev, Ev]) error {
	return func(call *runtime.ServerCall[Ev, Ev]) error {
		return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(c *protocol.ServerConv[Ev, Ev]) error {
			for {
				ev, err := c.Recv()
				if err != nil {
					return err
				}
				switch ev.Kind {
				case "join":
					err = c.Send(&Ev{Kind: "joined"})
				case "say":
					err = c.Send(&Ev{Kind: "message", Text: ev.Text})
				case "leave":
					if err := c.Send(&Ev{Kind: "left"}); err != nil {
						return err
					}
					if _, err := c.Recv(); err != io.EOF {
						return err
					}
					return nil
				}
				if err != nil {
					return err
				}
			}
		})
	}
}

// A client that knows nothing of the protocol drives a checked server out
// of protocol in each way; each ends the call with the documented status.
func TestServerEnforces(t *testing.T) {
	m := machine(t)
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) { testServerEnforces(t, d.serve(t, m)) })
	}
}

// drivers serve the room protocol with a checked handler, in each of the
// two forms: a handler goroutine (Serve) and a Reactor
// (HandleConversation).
var drivers = []struct {
	name  string
	serve func(*testing.T, *protocol.Machine) *runtime.Client
}{
	{"goroutine", func(t *testing.T, m *protocol.Machine) *runtime.Client { return serve(t, checkedServer(m)) }},
	{"reactor", func(t *testing.T, m *protocol.Machine) *runtime.Client {
		return serveReactor(t, m, func(c *protocol.Conversation[Ev, Ev]) runtime.Reactor[Ev] { return &roomReactor{c: c} })
	}},
}

func testServerEnforces(t *testing.T, c *runtime.Client) {
	tests := []struct {
		name  string
		sends []string // "-" half-closes
		code  wire.Code
		msg   string
	}{
		{"say first", []string{"say"}, wire.FailedPrecondition, "room.v1.Room/Talk: got say, want join (before the first message)"},
		{"half-close first", []string{"-"}, wire.FailedPrecondition, "room.v1.Room/Talk: got half-close, want join (before the first message)"},
		{"join twice", []string{"join", "join"}, wire.FailedPrecondition, "got join, want say or leave (after server joined)"},
		{"no kind", []string{""}, wire.InvalidArgument, "got a message with no kind"},
		{"half-close before leave", []string{"join", "say", "-"}, wire.FailedPrecondition, "got half-close, want say or leave"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := recvAll(talk(t, c, tt.sends))
			if wire.CodeOf(last) != tt.code || !strings.Contains(last.Error(), tt.msg) {
				t.Errorf("status %v, want %v with %q", last, tt.code, tt.msg)
			}
			if !wire.IsWireError(last) {
				t.Errorf("%v did not come from the server", last)
			}
		})
	}
}

// A checked client and a checked server hold a whole conversation.
func TestConversation(t *testing.T) {
	m := machine(t)
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) { testConversation(t, m, d.serve(t, m)) })
	}
}

func testConversation(t *testing.T, m *protocol.Machine, c *runtime.Client) {
	conv, err := protocol.Open(ctxT(t), c, method, m, kindOf(clientKinds), kindOf(serverKinds))
	if err != nil {
		t.Fatal(err)
	}
	// A local send out of protocol is refused and reaches nothing.
	err = conv.Send(&Ev{Kind: "say", Text: "too early"})
	var v *protocol.Violation
	if !errors.As(err, &v) || !v.Local || !strings.Contains(err.Error(), "the client cannot send say, may send join (before the first message)") {
		t.Fatalf("early say: %v", err)
	}
	if err := conv.CloseSend(); err == nil {
		t.Fatal("half-close before join was allowed")
	}
	if err := conv.Send(&Ev{Kind: "join"}); err != nil {
		t.Fatal(err)
	}
	// Until joined arrives the client may send nothing.
	if err := conv.Send(&Ev{Kind: "say"}); err == nil || !strings.Contains(err.Error(), "may send nothing from the client: it is the server's turn (after client join)") {
		t.Fatalf("say before joined: %v", err)
	}
	got := []string{}
	ev, err := conv.Recv()
	if err != nil || ev.Kind != "joined" {
		t.Fatalf("first response %v, %v", ev, err)
	}
	for _, ev := range []Ev{{Kind: "say", Text: "hi"}, {Kind: "leave"}} {
		if err := conv.Send(&ev); err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
	}
	for ev := range conv.In().C() {
		got = append(got, ev.Kind+ev.Text)
		if ev.Kind == "left" {
			if err := conv.CloseSend(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if end, _ := conv.In().End(); end.Err != nil {
		t.Fatalf("end: %v", end.Err)
	}
	if strings.Join(got, ",") != "messagehi,left" {
		t.Errorf("got %v", got)
	}
}

// A server that knows nothing of the protocol breaks it in each way; the
// checked client resets the stream and its receive ends with a local
// error naming the state.
func TestClientEnforces(t *testing.T) {
	m := machine(t)
	tests := []struct {
		name  string
		reply []string // "" ends OK
		msg   string
	}{
		{"wrong first response", []string{"message"}, "room.v1.Room/Talk: got message, want joined (after client join)"},
		{"ends OK early", []string{"joined", ""}, "got the end of the call (OK), want message (after server joined)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handlerErr := make(chan error, 1)
			c := serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
				if _, err := call.Recv(); err != nil {
					return err
				}
				for _, k := range tt.reply {
					if k == "" {
						return nil
					}
					_ = call.Send(&Ev{Kind: k})
				}
				<-call.Context().Done() // the client resets the stream
				handlerErr <- call.Context().Err()
				return nil
			})
			conv, err := protocol.Open(ctxT(t), c, method, m, kindOf(clientKinds), kindOf(serverKinds))
			if err != nil {
				t.Fatal(err)
			}
			if err := conv.Send(&Ev{Kind: "join"}); err != nil {
				t.Fatal(err)
			}
			var last error
			for {
				if _, last = conv.Recv(); last != nil {
					break
				}
			}
			if wire.CodeOf(last) != wire.FailedPrecondition || wire.IsWireError(last) || !strings.Contains(last.Error(), tt.msg) {
				t.Errorf("receive ended with %v, want a local FAILED_PRECONDITION with %q", last, tt.msg)
			}
			if tt.reply[len(tt.reply)-1] != "" {
				if err := <-handlerErr; !errors.Is(err, context.Canceled) {
					t.Errorf("server handler saw %v, want the stream reset", err)
				}
			}
			if err := conv.Send(&Ev{Kind: "say"}); err == nil {
				t.Error("send after a violation succeeded")
			}
		})
	}
}

// A checked handler that returns OK where the protocol expects more ends
// the call with INTERNAL instead.
func TestServerEndsEarly(t *testing.T) {
	m := machine(t)
	c := serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
		return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(c *protocol.ServerConv[Ev, Ev]) error {
			_, err := c.Recv()
			return err
		})
	})
	call, err := runtime.Open[Ev, Ev](ctxT(t), c, method)
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&Ev{Kind: "join"})
	_, err = call.Recv()
	if wire.CodeOf(err) != wire.Internal || !strings.Contains(err.Error(), "the handler ended the call with OK where the protocol expects joined") {
		t.Errorf("status %v", err)
	}
}

// A caller that abandons a checked conversation by cancelling its context,
// as grpc-go's callers do, with responses still unread in In: the
// goroutine that checks them and hands them over through In ends too,
// and In ends with CANCELLED after what it had handed over.
func TestClientInEndsWithContext(t *testing.T) {
	m := machine(t)
	c := serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
		return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(c *protocol.ServerConv[Ev, Ev]) error {
			if _, err := c.Recv(); err != nil {
				return err
			}
			if err := c.Send(&Ev{Kind: "joined"}); err != nil {
				return err
			}
			for range 50 { // more than In and the call's mailbox hold
				if err := c.Send(&Ev{Kind: "message"}); err != nil {
					return err
				}
			}
			<-c.Context().Done()
			return nil
		})
	})
	base := inPumps()
	ctx, cancel := context.WithCancel(ctxT(t))
	conv, err := protocol.Open(ctx, c, method, m, kindOf(clientKinds), kindOf(serverKinds))
	if err != nil {
		t.Fatal(err)
	}
	in := conv.In()
	if err := conv.Send(&Ev{Kind: "join"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for in.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for inPumps() > base && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := inPumps() - base; n > 0 {
		t.Fatalf("%d goroutines still feed In after the caller's context ended", n)
	}
	var last error
	for range 100 {
		if _, last = in.Recv(ctxT(t)); last != nil {
			break
		}
	}
	if wire.CodeOf(last) != wire.Canceled {
		t.Errorf("In ended with %v, want CANCELLED", last)
	}
}

// inPumps counts the goroutines that feed checked client conversations'
// In.
func inPumps() int {
	buf := make([]byte, 1<<20)
	buf = buf[:goruntime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "protocol.(*ClientConv[...]).pump") {
			n++
		}
	}
	return n
}
