package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

// startChat serves the chat example's server, which registers server
// reflection, on loopback.
func startChat(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	srv := server.New(server.Config{Logger: quiet}, runtime.WithLogger(quiet))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// TestCallReflection: list, describe and typed calls with no -proto, from
// the chat server's reflection service.
func TestCallReflection(t *testing.T) {
	addr := startChat(t)
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings
	}{
		{name: "list", args: []string{"call", addr, "list"}, out: "grpc.health.v1.Health\ngrpc.reflection.v1.ServerReflection\ngrpc.reflection.v1alpha.ServerReflection\nparley.chat.v1.Chat\n"},
		{name: "list a service", args: []string{"call", addr, "list", "parley.chat.v1.Chat"}, out: "/parley.chat.v1.Chat/Converse\n/parley.chat.v1.Chat/ListRooms\n/parley.chat.v1.Chat/History\n"},
		{name: "describe a service", args: []string{"call", addr, "describe", "parley.chat.v1.Chat"},
			out: "parley.chat.v1.Chat is a service:\nservice Chat {\n  rpc Converse ( stream .parley.chat.v1.ClientEvent ) returns ( stream .parley.chat.v1.ServerEvent );\n"},
		{name: "describe a method", args: []string{"call", addr, "describe", ".parley.chat.v1.Chat.History"},
			out: "rpc History ( .parley.chat.v1.HistoryRequest ) returns ( .parley.chat.v1.HistoryResponse );"},
		{name: "describe a message", args: []string{"call", addr, "describe", "parley.chat.v1.HistoryRequest"},
			out: "message HistoryRequest {\n  string room = 1;\n  uint32 limit = 2;\n}\n"},
		{name: "describe a oneof message", args: []string{"call", addr, "describe", "parley.chat.v1.ServerEvent"}, out: "  oneof "},
		{name: "describe an enum", args: []string{"call", addr, "describe", "parley.chat.v1.LeaveReason"}, out: "enum LeaveReason {\n"},
		{name: "describe an unknown symbol", args: []string{"call", addr, "describe", "no.such.Thing"}, code: 1, err: "ERROR: NOT_FOUND"},
		{name: "describe without a symbol", args: []string{"call", addr, "describe"}, code: 1, err: "describe needs a symbol"},
		// Typed by the reflected schema: field names are checked and enums
		// and 64-bit integers are converted, as with -proto.
		{name: "typed call", args: []string{"call", "-v", addr, "/parley.chat.v1.Chat/ListRooms", "{}"}, out: "{}\n", err: "Schema: /parley.chat.v1.Chat/ListRooms from the server's reflection service"},
		{name: "typed call, unknown field", args: []string{"call", addr, "/parley.chat.v1.Chat/History", `{"room":"lobby","nope":1}`}, code: 1, err: "nope"},
		{name: "typed call, NOT_FOUND", args: []string{"call", addr, "/parley.chat.v1.Chat/History", `{"room":"lobby","limit":2}`}, code: 1, err: "ERROR: NOT_FOUND"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := parley(t, "", c.args...)
			if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.err) {
				t.Fatalf("parley %v: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout with %q, stderr with %q", c.args, code, out, errOut, c.code, c.out, c.err)
			}
		})
	}
}

// TestCallNoReflection: against a server without reflection, list fails
// clearly and calls go untyped, as they did before.
func TestCallNoReflection(t *testing.T) {
	addr := startMirror(t)
	code, _, errOut := parley(t, "", "call", addr, "list")
	if code != 1 || !strings.Contains(errOut, "does not support the reflection API") {
		t.Fatalf("list: exit %d, %s", code, errOut)
	}
	code, out, errOut := parley(t, "", "call", "-v", addr, "/test.Mirror/Echo", `{"anything":[1,"x"]}`)
	if code != 0 || out != `{"anything":[1,"x"]}`+"\n" || !strings.Contains(errOut, "JSON is sent untyped") {
		t.Fatalf("untyped call: exit %d, %q, %s", code, out, errOut)
	}
}
