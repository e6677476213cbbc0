package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/wire"
)

// TestGRPCWeb: the chat's unary calls over gRPC-Web through Handler, in
// msgpack (ListRooms, with a room a native member opened) and in protobuf
// (the health check, application/grpc-web+proto), over HTTP/1.1 and h2c.
func TestGRPCWeb(t *testing.T) {
	ts := start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	m := open(t, dial(t, ts.addr), "native")
	m.mustJoin("lobby")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: ts.Handler(), Protocols: protos}
	go hs.Serve(l)
	defer hs.Close()

	for _, h2 := range []bool{false, true} {
		cp := new(http.Protocols)
		if h2 {
			cp.SetUnencryptedHTTP2(true)
		} else {
			cp.SetHTTP1(true)
		}
		tr := &http.Transport{Protocols: cp}
		client := &http.Client{Transport: tr}
		call := func(method, ct string, payload []byte) (msg []byte, trailers map[string][]string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+l.Addr().String()+method,
				bytes.NewReader(wire.AppendWebFrame(nil, 0, payload)))
			req.Header.Set("Content-Type", ct)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
				t.Fatalf("%s: HTTP %d, %q", method, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for len(body) > 0 {
				rest, flag, p, ok, err := wire.ParseWebFrame(body, -1)
				if err != nil || !ok {
					t.Fatalf("%s: body %x: %v", method, body, err)
				}
				body = rest
				if flag == wire.FlagTrailers {
					trailers, _ = wire.ParseHeaderBlock(p)
				} else {
					msg = p
				}
			}
			return msg, trailers
		}
		msg, tr1 := call(chatpb.Chat_ListRooms_FullMethodName, "application/grpc-web+msgpack", []byte{0x80})
		var rooms chatpb.ListRoomsResponse
		if err := wire.Msgpack.Unmarshal(msg, &rooms); err != nil || tr1["grpc-status"][0] != "0" {
			t.Fatalf("ListRooms: %v %v", err, tr1)
		}
		if len(rooms.Rooms) != 1 || rooms.Rooms[0].Name != "lobby" || rooms.Rooms[0].Members != 1 {
			t.Fatalf("rooms %+v", rooms.Rooms)
		}
		// grpc.health.v1.HealthCheckResponse{status: SERVING} is 08 01.
		msg, tr2 := call("/grpc.health.v1.Health/Check", "application/grpc-web+proto", nil)
		if !bytes.Equal(msg, []byte{0x08, 0x01}) || tr2["grpc-status"][0] != "0" {
			t.Fatalf("health over grpc-web+proto: %x %v", msg, tr2)
		}
		tr.CloseIdleConnections()
	}
}
