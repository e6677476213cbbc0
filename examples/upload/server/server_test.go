package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/upload/client"
	"github.com/parleyrpc/parley/examples/upload/server"
	"github.com/parleyrpc/parley/examples/upload/uploadpb"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves a Server on loopback for the test and returns it with a
// connected client.
func start(t *testing.T) (*server.Server, uploadpb.FilesClient, *runtime.Client) {
	t.Helper()
	srv := server.New(server.Config{Window: client.DefaultWindow})
	rs := runtime.NewServer()
	uploadpb.RegisterFilesServer(rs, srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go rs.Serve(l)
	c, err := runtime.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		rs.Close()
	})
	return srv, uploadpb.NewFilesClient(c), c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randomData(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// A file of several windows (and a partial last one) arrives whole.
func TestUpload(t *testing.T) {
	srv, c, _ := start(t)
	data := randomData(100_000)
	sum, err := client.Upload(ctxT(t), c, "u1", "report.bin", data, client.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Committed || sum.Size != uint64(len(data)) || sum.Chunks != 25 || sum.Name != "report.bin" {
		t.Errorf("summary %+v", sum)
	}
	if got, ok := srv.File("report.bin"); !ok || !bytes.Equal(got, data) {
		t.Error("stored file differs")
	}
}

// An upload that breaks off resumes from what the server holds: the
// second call sends only the rest.
func TestResume(t *testing.T) {
	srv, c, _ := start(t)
	data := randomData(64 * 1024)
	_, err := client.Upload(ctxT(t), c, "u2", "big.bin", data, client.Options{ChunkSize: 1024, StopAfter: 20})
	if !errors.Is(err, client.ErrInterrupted) {
		t.Fatalf("first attempt: %v", err)
	}
	var sum *uploadpb.Summary
	// The server's handler for the broken call may still hold the upload
	// for a moment: it answers ABORTED until it lets go.
	for i := 0; ; i++ {
		sum, err = client.Upload(ctxT(t), c, "u2", "big.bin", data, client.Options{ChunkSize: 1024})
		if wire.CodeOf(err) != wire.Aborted || i == 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Committed || sum.Chunks == 0 || sum.Chunks >= 64 {
		t.Errorf("summary %+v: want a commit with fewer than 64 chunks sent on the second call", sum)
	}
	if got, _ := srv.File("big.bin"); !bytes.Equal(got, data) {
		t.Error("stored file differs")
	}
	if srv.Held("u2") != 0 {
		t.Error("the committed upload is still held")
	}
}

// Abort ends the upload without storing it; the server forgets it.
func TestAbort(t *testing.T) {
	srv, c, _ := start(t)
	sum, err := client.Upload(ctxT(t), c, "u3", "gone.bin", randomData(10_000), client.Options{ChunkSize: 1000, Abort: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Committed || sum.Chunks != 10 {
		t.Errorf("summary %+v", sum)
	}
	if _, ok := srv.File("gone.bin"); ok || srv.Held("u3") != 0 {
		t.Error("an aborted upload was kept")
	}
}

func begin(id string, size uint64) *uploadpb.PutRequest {
	return &uploadpb.PutRequest{Msg: &uploadpb.PutRequest_Begin{Begin: &uploadpb.Begin{UploadId: id, Name: id + ".bin", Size: size}}}
}

func chunk(off uint64, data string) *uploadpb.PutRequest {
	return &uploadpb.PutRequest{Msg: &uploadpb.PutRequest_Chunk{Chunk: &uploadpb.Chunk{Offset: off, Data: []byte(data)}}}
}

// shaA is the SHA-256 of "a".
const shaA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"

func commit(sha string) *uploadpb.PutRequest {
	return &uploadpb.PutRequest{Msg: &uploadpb.PutRequest_Commit{Commit: &uploadpb.Commit{Sha256: sha}}}
}

// A client that knows nothing of the protocol (the runtime's raw call)
// breaks it in each way, or sends bad data; each ends the call with its
// status and a message that says why, and the server keeps serving.
func TestRejected(t *testing.T) {
	srv, c, raw := start(t)
	tests := []struct {
		name  string
		sends []*uploadpb.PutRequest // nil half-closes
		code  wire.Code
		msg   string
	}{
		{"chunk first", []*uploadpb.PutRequest{chunk(0, "x")}, wire.FailedPrecondition,
			"parley.upload.v1.Files/Put: got chunk, want begin (before the first message)"},
		{"half-close first", []*uploadpb.PutRequest{nil}, wire.FailedPrecondition,
			"parley.upload.v1.Files/Put: got half-close, want begin (before the first message)"},
		{"half-close before commit", []*uploadpb.PutRequest{begin("r1", 2), chunk(0, "ab"), nil}, wire.FailedPrecondition,
			"parley.upload.v1.Files/Put: got half-close, want chunk or commit or abort (after server resume)"},
		{"chunk after commit", []*uploadpb.PutRequest{begin("r2", 1), chunk(0, "a"), commit(shaA), chunk(1, "b")}, wire.FailedPrecondition,
			"parley.upload.v1.Files/Put: got chunk, want half-close (after client commit or abort)"},
		{"bad digest", []*uploadpb.PutRequest{begin("r7", 1), chunk(0, "a"), commit("x")}, wire.InvalidArgument,
			`commit with sha256 "x", the data's is ` + shaA},
		{"begin twice", []*uploadpb.PutRequest{begin("r3", 1), begin("r3", 1)}, wire.FailedPrecondition,
			"parley.upload.v1.Files/Put: got begin, want chunk or commit or abort (after server resume)"},
		{"empty message", []*uploadpb.PutRequest{{}}, wire.InvalidArgument,
			"got a message with no kind"},
		{"chunk at the wrong offset", []*uploadpb.PutRequest{begin("r4", 4), chunk(2, "ab")}, wire.InvalidArgument,
			"chunk at offset 2, want 0"},
		{"chunk past the size", []*uploadpb.PutRequest{begin("r5", 1), chunk(0, "ab")}, wire.InvalidArgument,
			"past the declared size 1"},
		{"commit short", []*uploadpb.PutRequest{begin("r6", 4), chunk(0, "ab"), commit("")}, wire.InvalidArgument,
			"commit after 2 of 4 bytes"},
		{"bad id", []*uploadpb.PutRequest{begin("no spaces", 1)}, wire.InvalidArgument,
			"upload_id must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := runtime.Open[uploadpb.PutRequest, uploadpb.PutResponse](ctxT(t), raw, uploadpb.Files_Put_FullMethodName)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.sends {
				if m == nil {
					_ = call.CloseSend()
					continue
				}
				_ = call.Send(m)
			}
			var last error
			for last == nil {
				_, last = call.Recv()
			}
			if wire.CodeOf(last) != tt.code || !strings.Contains(last.Error(), tt.msg) {
				t.Errorf("status %v, want %v with %q", last, tt.code, tt.msg)
			}
		})
	}
	// The bytes of a failed attempt stay for a retry, and the server
	// still serves.
	if got := srv.Held("r6"); got != 2 {
		t.Errorf("held %d bytes of r6, want 2", got)
	}
	data := []byte("abcd")
	sum, err := client.Upload(ctxT(t), c, "r6", "r6.bin", data, client.Options{})
	if err != nil || !sum.Committed || sum.Chunks != 1 {
		t.Fatalf("retry of r6: %+v, %v", sum, err)
	}
}

// Two goroutines on one typed conversation: one sends the chunks, the
// commit and the half-close while the other receives on the state value it
// had. The acknowledgements arrive as that state expects; the summary,
// which only the sender's moves made legal, arrives as FilesPutClientMoved
// with the conversation's state now.
func TestTypedStateFallsBehind(t *testing.T) {
	_, c, _ := start(t)
	data := randomData(8 * 1024)
	conv, err := c.Put(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	begun, err := conv.Start().SendBegin(&uploadpb.Begin{UploadId: "two", Name: "two.bin", Size: uint64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := begun.Recv()
	if err != nil {
		t.Fatal(err)
	}
	st := got.(uploadpb.FilesPutClientAfterBeginGotResume).Next
	sent := make(chan error, 1)
	go func(s uploadpb.FilesPutClientAfterResume) {
		var err error
		for off := 0; off < len(data); off += 1024 {
			if s, err = s.SendChunk(&uploadpb.Chunk{Offset: uint64(off), Data: data[off : off+1024]}); err != nil {
				sent <- err
				return
			}
		}
		h := sha256.Sum256(data)
		ended, err := s.SendCommit(&uploadpb.Commit{Sha256: hex.EncodeToString(h[:])})
		if err == nil {
			_, err = ended.CloseSend()
		}
		sent <- err
	}(st)
	acks := 0
	for {
		got, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := got.(uploadpb.FilesPutClientAfterResumeGotAck); ok {
			acks++
			st = g.Next
			continue
		}
		moved, ok := got.(uploadpb.FilesPutClientMoved)
		if !ok {
			t.Fatalf("got %T", got)
		}
		sum, ok := moved.Msg.Msg.(*uploadpb.PutResponse_Summary)
		if !ok || !sum.Summary.Committed || moved.State != "after server summary" {
			t.Fatalf("moved: %+v in %q", moved.Msg, moved.State)
		}
		break
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if acks != 2 {
		t.Errorf("%d acknowledgements, want 2", acks)
	}
	if _, err := conv.Recv(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}
