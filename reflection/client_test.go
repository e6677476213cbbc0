package reflection_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyrpc/parley/internal/testutil"
	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClient(t *testing.T) {
	rc := reflection.NewClient(start(t))
	ctx := testCtx(t)
	names, err := rc.ListServices(ctx)
	if want := []string{"grpc.health.v1.Health", reflection.ServiceV1, reflection.ServiceV1Alpha, "parley.refltest.Items"}; err != nil || !slices.Equal(names, want) {
		t.Fatalf("ListServices = %v, %v; want %v", names, err, want)
	}
	files, err := rc.Resolve(ctx, "parley.refltest.Items")
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("parley.refltest.Items.Get")
	if err != nil {
		t.Fatal(err)
	}
	m := d.(protoreflect.MethodDescriptor)
	if created := m.Output().Fields().ByName("created"); created == nil || created.Message().FullName() != "google.protobuf.Timestamp" || created.Message().IsPlaceholder() {
		t.Errorf("Item.created does not resolve to google.protobuf.Timestamp: %v", created)
	}
	for _, f := range []string{"items.proto", "google/protobuf/timestamp.proto", "google/protobuf/descriptor.proto"} {
		if _, err := files.FindFileByPath(f); err != nil {
			t.Errorf("Resolve left out %s", f)
		}
	}
	if _, err := rc.Resolve(ctx, "no.such.Thing"); wire.CodeOf(err) != wire.NotFound {
		t.Errorf("Resolve of an unknown symbol: %v, want NOT_FOUND", err)
	}
}

// TestClientV1Alpha: against a server that has only v1alpha, the client
// falls back to it; against one with no reflection at all it fails with
// UNIMPLEMENTED.
func TestClientV1Alpha(t *testing.T) {
	srv := runtime.NewServer(runtime.WithCodec(wire.Proto))
	runtime.HandleBidi(srv, reflection.MethodV1Alpha, func(call *runtime.ServerCall[reflection.Request, reflection.Response]) error {
		for {
			req, err := call.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := call.Send(&reflection.Response{OriginalRequest: req, Kind: reflection.ListServiceResponse, Services: []string{"old.Service"}}); err != nil {
				return err
			}
		}
	})
	l := testutil.Listen(t, "tcp4")
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	c, err := runtime.Dial(l.Addr().String(), runtime.WithCodec(wire.Proto))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names, err := reflection.NewClient(c).ListServices(testCtx(t))
	if err != nil || !slices.Equal(names, []string{"old.Service"}) {
		t.Fatalf("ListServices over v1alpha = %v, %v", names, err)
	}

	bare := runtime.NewServer(runtime.WithCodec(wire.Proto))
	l2 := testutil.Listen(t, "tcp4")
	done2 := make(chan struct{})
	go func() { bare.Serve(l2); close(done2) }()
	t.Cleanup(func() { bare.Close(); <-done2 })
	c2, err := runtime.Dial(l2.Addr().String(), runtime.WithCodec(wire.Proto))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := reflection.NewClient(c2).ListServices(testCtx(t)); wire.CodeOf(err) != wire.Unimplemented {
		t.Fatalf("ListServices without reflection: %v, want UNIMPLEMENTED", err)
	}
}
