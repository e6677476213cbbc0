// Package client is the upload example's client: it uploads a file in
// chunks over Files.Put with a window of unacknowledged chunks, and
// resumes an upload that broke off from what the server holds.
package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/parleyrpc/parley/examples/upload/uploadpb"
)

// Defaults of Options.
const (
	DefaultChunkSize = 16 << 10
	DefaultWindow    = 4
)

// Options tune Upload. The zero value uses the defaults.
type Options struct {
	// ChunkSize is the size of each chunk (DefaultChunkSize when 0).
	ChunkSize int
	// Window is the number of chunks sent before waiting for the server's
	// acknowledgement (DefaultWindow when 0). It must be the server's
	// window: the server acknowledges every Window chunks.
	Window int
	// StopAfter, when positive, abandons the call (as a broken
	// connection would) after that many chunks: Upload then returns
	// ErrInterrupted and a later Upload resumes.
	StopAfter int
	// Abort sends abort instead of commit: the server forgets the upload.
	Abort bool
}

// ErrInterrupted is returned by Upload when Options.StopAfter ended it.
var ErrInterrupted = errors.New("upload interrupted")

// Upload uploads data as name under uploadID, from the offset the server
// answers to begin: 0 for a new upload, or what it holds of an earlier
// attempt. It returns the server's summary.
//
// The states of the conversation are the generated types: begin, resume,
// then chunks with a window of acknowledgements, then commit (or abort),
// the half-close and the summary; the compiler keeps the order.
func Upload(ctx context.Context, c uploadpb.FilesClient, uploadID, name string, data []byte, opts Options) (*uploadpb.Summary, error) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conv, err := c.Put(ctx)
	if err != nil {
		return nil, err
	}
	defer conv.Cancel()
	begun, err := conv.Start().SendBegin(&uploadpb.Begin{UploadId: uploadID, Name: name, Size: uint64(len(data))})
	if err != nil {
		return nil, err
	}
	got, err := begun.Recv()
	if err != nil {
		return nil, err
	}
	resume := got.(uploadpb.FilesPutClientAfterBeginGotResume)
	off := resume.Msg.Offset
	if off > uint64(len(data)) {
		return nil, fmt.Errorf("server resumes at %d, past the end of %d bytes", off, len(data))
	}
	st := resume.Next
	sent, unacked := 0, 0
	for off < uint64(len(data)) {
		if opts.StopAfter > 0 && sent == opts.StopAfter {
			conv.Cancel()
			return nil, ErrInterrupted
		}
		end := min(off+uint64(opts.ChunkSize), uint64(len(data)))
		if st, err = st.SendChunk(&uploadpb.Chunk{Offset: off, Data: data[off:end]}); err != nil {
			return nil, err
		}
		off, sent = end, sent+1
		if unacked++; unacked == opts.Window {
			unacked = 0
			got, err := st.Recv()
			if err != nil {
				return nil, err
			}
			ack := got.(uploadpb.FilesPutClientAfterResumeGotAck)
			if ack.Msg.Offset != off {
				return nil, fmt.Errorf("server acknowledged %d bytes, sent %d", ack.Msg.Offset, off)
			}
			st = ack.Next
		}
	}
	var ended uploadpb.FilesPutClientAfterCommit
	if opts.Abort {
		ended, err = st.SendAbort(&uploadpb.Abort{Reason: "asked to"})
	} else {
		h := sha256.Sum256(data)
		ended, err = st.SendCommit(&uploadpb.Commit{Sha256: hex.EncodeToString(h[:])})
	}
	if err != nil {
		return nil, err
	}
	closed, err := ended.CloseSend()
	if err != nil {
		return nil, err
	}
	for {
		got, err := closed.Recv()
		if err != nil {
			return nil, err
		}
		switch g := got.(type) {
		case uploadpb.FilesPutClientAfterHalfCloseGotAck:
			closed = g.Next
		case uploadpb.FilesPutClientAfterHalfCloseGotSummary:
			if err := g.Next.Wait(); err != nil {
				return nil, err
			}
			return g.Msg, nil
		}
	}
}
