package server_test

import (
	"context"
	"testing"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

type healthCall = runtime.ClientCall[health.CheckRequest, health.CheckResponse]

// TestHealth: the chat server reports SERVING for itself and for the Chat
// service, in msgpack and in protobuf; draining through Health().Shutdown
// turns both NOT_SERVING while conversations go on, a watcher sees the
// change, and Shutdown ends the watcher with UNAVAILABLE instead of
// waiting for it.
func TestHealth(t *testing.T) {
	ts := start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	clients := map[string]*runtime.Client{}
	for name, opts := range map[string][]runtime.DialOption{
		"msgpack": {runtime.WithLogger(quiet)},
		"proto":   {runtime.WithLogger(quiet), runtime.WithCodec(health.Codec)},
	} {
		c, err := runtime.Dial(ts.addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[name] = c
	}
	check := func(want health.ServingStatus) {
		t.Helper()
		for name, c := range clients {
			for _, service := range []string{"", server.ServiceName} {
				res, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: service})
				if err != nil || res.Status != want {
					t.Fatalf("%s Check(%q) = %v, %v; want %v", name, service, res, err, want)
				}
			}
		}
	}
	check(health.Serving)
	w, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, clients["proto"], health.MethodWatch, &health.CheckRequest{Service: server.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	next := func(w *healthCall, want health.ServingStatus) {
		t.Helper()
		if res, err := w.Recv(); err != nil || res.Status != want {
			t.Fatalf("Watch got %v, %v; want %v", res, err, want)
		}
	}
	next(w, health.Serving)

	ann := open(t, dial(t, ts.addr), "ann")
	ann.join("lobby")
	if joinedOf(ann.read()) == nil {
		t.Fatal("ann: first event is not joined")
	}
	ts.Health().Shutdown()
	next(w, health.NotServing)
	check(health.NotServing)
	ann.say("still here")
	if m := messageOf(ann.read()); m == nil || m.Text != "still here" {
		t.Fatalf("while draining, ann got %v, want her message", m)
	}

	ts.shutdown(t)
	wantCode(t, ann.status(), wire.Unavailable)
	if _, err := w.Recv(); wire.CodeOf(err) != wire.Unavailable {
		t.Fatalf("after Shutdown, Watch ended with %v, want UNAVAILABLE", err)
	}
}
