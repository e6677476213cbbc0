package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

type Line struct {
	Text string `msgpack:"text"`
}

// A bidirectional conversation: the handler answers each request until the
// client half-closes; the status arrives as the inbound mailbox's end.
func ExampleHandleBidi() {
	srv := prt.NewServer()
	prt.HandleBidi(srv, "/chat.Echo/Talk", func(call *prt.ServerCall[Line, Line]) error {
		for m := range call.In().C() {
			if err := call.Send(&Line{Text: "you said " + m.Text}); err != nil {
				return err
			}
		}
		return nil
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	client, _ := prt.Dial(l.Addr().String())
	defer client.Close()
	call, _ := prt.Open[Line, Line](context.Background(), client, "/chat.Echo/Talk")
	_ = call.Send(&Line{Text: "hello"})
	reply, _ := call.Recv()
	fmt.Println(reply.Text)
	_ = call.CloseSend()
	_, err := call.Recv()
	fmt.Println(err == io.EOF)
	// Output:
	// you said hello
	// true
}

// A unary call that fails carries its status code and message.
func ExampleCallUnary() {
	srv := prt.NewServer()
	prt.HandleUnary(srv, "/demo.Users/Get", func(ctx context.Context, req *Line) (*Line, error) {
		if req.Text != "alice" {
			return nil, wire.Errorf(wire.NotFound, "no user %q", req.Text)
		}
		return &Line{Text: "Alice Liddell"}, nil
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	client, _ := prt.Dial(l.Addr().String())
	defer client.Close()
	res, err := prt.CallUnary[Line, Line](context.Background(), client, "/demo.Users/Get", &Line{Text: "alice"})
	fmt.Println(res.Text, err)
	_, err = prt.CallUnary[Line, Line](context.Background(), client, "/demo.Users/Get", &Line{Text: "bob"})
	fmt.Println(wire.CodeOf(err), err.(*wire.Error).Message())
	// Output:
	// Alice Liddell <nil>
	// NOT_FOUND no user "bob"
}
