// Command demo runs the upload example end to end on loopback: a server,
// and a client whose first attempt breaks off halfway and whose second
// resumes from what the server holds.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parleyrpc/parley/examples/internal/loopback"
	"github.com/parleyrpc/parley/examples/upload/client"
	"github.com/parleyrpc/parley/examples/upload/server"
	"github.com/parleyrpc/parley/examples/upload/uploadpb"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "upload demo:", err)
		os.Exit(1)
	}
}

// run serves, uploads 256 KiB in 8 KiB chunks (interrupted after 12, then
// resumed) and prints what happened.
func run(w io.Writer) error {
	srv := server.New(server.Config{})
	rs := runtime.NewServer()
	uploadpb.RegisterFilesServer(rs, srv)
	c, stop, err := loopback.Dial(rs)
	if err != nil {
		return err
	}
	defer stop()
	files := uploadpb.NewFilesClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	opts := client.Options{ChunkSize: 8 << 10, StopAfter: 12}
	_, err = client.Upload(ctx, files, "demo-1", "demo.bin", data, opts)
	if !errors.Is(err, client.ErrInterrupted) {
		return fmt.Errorf("first attempt: %v", err)
	}
	fmt.Fprintln(w, "first attempt: interrupted after 12 chunks")
	opts.StopAfter = 0
	var sum *uploadpb.Summary
	for i := 0; i < 200; i++ { // until the server lets go of the broken call
		sum, err = client.Upload(ctx, files, "demo-1", "demo.bin", data, opts)
		if wire.CodeOf(err) != wire.Aborted {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("second attempt: %v", err)
	}
	fmt.Fprintf(w, "second attempt: resumed, %d of 32 chunks sent\n", sum.Chunks)
	got, _ := srv.File("demo.bin")
	fmt.Fprintf(w, "committed %s: %d bytes, sha256 %s, intact: %v\n", sum.Name, sum.Size, sum.Sha256[:12], sha256.Sum256(got) == sha256.Sum256(data))
	return nil
}
