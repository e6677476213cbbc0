package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

// msgpackCodec is grpc-go's codec for parley's content-subtype, from the
// chat README: messages are msgpack maps keyed by field name.
type msgpackCodec struct{}

func (msgpackCodec) Marshal(v any) ([]byte, error)   { return msgpack.Marshal(v) }
func (msgpackCodec) Unmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }
func (msgpackCodec) Name() string                    { return "msgpack" }

func init() { encoding.RegisterCodec(msgpackCodec{}) }

// grpcEvent is the README's ServerEvent, as much of it as the test reads.
type grpcEvent struct {
	Joined *struct {
		Members []string `msgpack:"members"`
	} `msgpack:"joined"`
	Message *struct {
		Nick string `msgpack:"nick"`
		Text string `msgpack:"text"`
	} `msgpack:"message"`
	Presence *struct {
		Nick string `msgpack:"nick"`
		Kind int    `msgpack:"kind"`
	} `msgpack:"presence"`
}

// TestBrowserAndGRPCGo: a browser member and a stock grpc-go member (with
// a msgpack codec, as the chat README says) in one room see each other
// arrive and talk.
func TestBrowserAndGRPCGo(t *testing.T) {
	exe := chromium(t)
	srv := &chatServer{t: t, bin: buildServer(t), addr: freeAddr(t)}
	srv.start()
	defer srv.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cc, err := grpc.NewClient("passthrough:///"+srv.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype("msgpack")))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/parley.chat.v1.Chat/Converse")
	if err != nil {
		t.Fatal(err)
	}
	recv := func(ok func(*grpcEvent) bool) {
		t.Helper()
		for {
			ev := new(grpcEvent)
			if err := stream.RecvMsg(ev); err != nil {
				t.Fatalf("grpc-go member: %v", err)
			}
			if ok(ev) {
				return
			}
		}
	}
	if err := stream.SendMsg(map[string]any{"join": map[string]any{"room": "interop", "nick": "grpcgo"}}); err != nil {
		t.Fatal(err)
	}
	recv(func(ev *grpcEvent) bool { return ev.Joined != nil })

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox)...)
	defer cancelAlloc()
	page, cancelPage := chromedp.NewContext(alloc)
	defer cancelPage()
	if err := chromedp.Do(page, joinPage("http://"+srv.addr, "webber", "interop"), waitText("#members", "grpcgo")); err != nil {
		t.Fatalf("the browser member does not see the grpc-go member: %v", err)
	}
	recv(func(ev *grpcEvent) bool {
		return ev.Presence != nil && ev.Presence.Nick == "webber" && ev.Presence.Kind == 1
	})

	if err := chromedp.Do(page, say("hello grpc-go")); err != nil {
		t.Fatal(err)
	}
	recv(func(ev *grpcEvent) bool {
		return ev.Message != nil && ev.Message.Nick == "webber" && ev.Message.Text == "hello grpc-go"
	})
	if err := stream.SendMsg(map[string]any{"say": map[string]any{"text": "hello browser"}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(page, waitText("#log", "hello browser")); err != nil {
		t.Fatalf("the browser member does not see the grpc-go member's message: %v", err)
	}
	_ = stream.CloseSend()
}
