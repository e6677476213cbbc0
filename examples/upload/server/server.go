// Package server is the upload example's server: it stores files uploaded
// in chunks over Files.Put, acknowledging them in windows and keeping
// what it received of an upload that broke off so that the client can
// resume it.
package server

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sync"

	"github.com/parleyrpc/parley/examples/upload/uploadpb"
	"github.com/parleyrpc/parley/wire"
)

// Defaults of Config.
const (
	// DefaultWindow is how many chunks the server acknowledges at once.
	DefaultWindow = 4
	// DefaultMaxSize is the largest file accepted, in bytes.
	DefaultMaxSize = 64 << 20
)

// Config configures a Server. The zero value uses the defaults.
type Config struct {
	// Window is the number of chunks per acknowledgement (DefaultWindow
	// when 0). A client that keeps at most Window chunks unacknowledged
	// never waits on anything but the network.
	Window int
	// MaxSize is the largest file size a Begin may declare
	// (DefaultMaxSize when 0); larger ones fail with RESOURCE_EXHAUSTED.
	MaxSize uint64
}

// Server implements uploadpb.FilesServer in memory.
//
// Concurrency: the handlers of concurrent calls share the partial uploads
// and the files under mu; one upload id is served by one call at a time
// (a second Begin for an id in use fails with ABORTED).
type Server struct {
	uploadpb.UnimplementedFilesServer
	cfg Config

	mu      sync.Mutex
	partial map[string]*partial // by upload id; guarded by mu
	files   map[string][]byte   // committed files by name; guarded by mu
}

// partial is an upload in progress, written only by the call that holds
// it (busy).
type partial struct {
	name string
	size uint64
	data []byte // guarded by Server.mu
	busy bool   // guarded by Server.mu
}

// New returns an empty server.
func New(cfg Config) *Server {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	return &Server{cfg: cfg, partial: map[string]*partial{}, files: map[string][]byte{}}
}

// File returns a committed file's contents.
func (s *Server) File(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[name]
	return b, ok
}

// Held returns how many bytes the server holds of an unfinished upload.
func (s *Server) Held(uploadID string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.partial[uploadID]; ok {
		return uint64(len(p.data))
	}
	return 0
}

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Put serves one upload, following its protocol's states as types:
// begin, resume, then chunks (acknowledged every window) until commit or
// abort, the client's half-close, and the summary.
func (s *Server) Put(conv *uploadpb.FilesPutServerConv) error {
	got, err := conv.Start().Recv()
	if err != nil {
		return err
	}
	begin := got.(uploadpb.FilesPutServerStartGotBegin) // the only kind allowed first
	p, err := s.acquire(begin.Msg)
	if err != nil {
		return err
	}
	defer s.release(begin.Msg.UploadId)

	st, err := begin.Next.SendResume(&uploadpb.Resume{Offset: s.held(p)})
	if err != nil {
		return err
	}
	chunks, unacked := uint32(0), 0
	for {
		got, err := st.Recv()
		if err != nil {
			return err
		}
		switch g := got.(type) {
		case uploadpb.FilesPutServerAfterResumeGotChunk:
			if err := s.write(p, g.Msg); err != nil {
				return err
			}
			chunks++
			if unacked++; unacked == s.cfg.Window {
				unacked = 0
				if st, err = g.Next.SendAck(&uploadpb.Ack{Offset: s.held(p)}); err != nil {
					return err
				}
			}
		case uploadpb.FilesPutServerAfterResumeGotCommit:
			sum, err := s.commit(begin.Msg, p, g.Msg)
			if err != nil {
				return err
			}
			sum.Chunks = chunks
			return finish(g.Next, sum)
		case uploadpb.FilesPutServerAfterResumeGotAbort:
			s.forget(begin.Msg.UploadId)
			return finish(g.Next, &uploadpb.Summary{Name: p.name, Chunks: chunks})
		}
	}
}

// finish waits for the client's half-close and sends the summary.
func finish(st uploadpb.FilesPutServerAfterCommit, sum *uploadpb.Summary) error {
	got, err := st.Recv()
	if err != nil {
		return err
	}
	_, err = got.(uploadpb.FilesPutServerAfterCommitGotHalfClose).Next.SendSummary(sum)
	return err
}

// acquire returns the upload b names, new or resumed, and marks it busy.
func (s *Server) acquire(b *uploadpb.Begin) (*partial, error) {
	if b == nil || !validID.MatchString(b.UploadId) {
		return nil, wire.NewError(wire.InvalidArgument, "upload_id must be 1 to 64 characters from A-Z, a-z, 0-9, - and _")
	}
	if b.Name == "" {
		return nil, wire.NewError(wire.InvalidArgument, "empty file name")
	}
	if b.Size > s.cfg.MaxSize {
		return nil, wire.Errorf(wire.ResourceExhausted, "size %d is over the limit of %d bytes", b.Size, s.cfg.MaxSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.partial[b.UploadId]
	switch {
	case !ok:
		p = &partial{name: b.Name, size: b.Size}
		s.partial[b.UploadId] = p
	case p.busy:
		return nil, wire.Errorf(wire.Aborted, "upload %q is in progress on another call", b.UploadId)
	case p.name != b.Name || p.size != b.Size:
		return nil, wire.Errorf(wire.FailedPrecondition, "upload %q was begun as %q of %d bytes", b.UploadId, p.name, p.size)
	}
	p.busy = true
	return p, nil
}

func (s *Server) held(p *partial) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(p.data))
}

func (s *Server) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.partial[id]; ok {
		p.busy = false
	}
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.partial, id)
}

// write appends c to p; c must start where p's data ends.
func (s *Server) write(p *partial, c *uploadpb.Chunk) error {
	if c == nil {
		c = &uploadpb.Chunk{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Offset != uint64(len(p.data)) {
		return wire.Errorf(wire.InvalidArgument, "chunk at offset %d, want %d", c.Offset, len(p.data))
	}
	if uint64(len(p.data))+uint64(len(c.Data)) > p.size {
		return wire.Errorf(wire.InvalidArgument, "chunk ends at %d, past the declared size %d", uint64(len(p.data))+uint64(len(c.Data)), p.size)
	}
	p.data = append(p.data, c.Data...)
	return nil
}

// commit stores the file if it is complete and its digest matches.
func (s *Server) commit(b *uploadpb.Begin, p *partial, c *uploadpb.Commit) (*uploadpb.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(len(p.data)) != p.size {
		return nil, wire.Errorf(wire.InvalidArgument, "commit after %d of %d bytes", len(p.data), p.size)
	}
	h := sha256.Sum256(p.data)
	digest := hex.EncodeToString(h[:])
	if c == nil || c.Sha256 != digest {
		var got string
		if c != nil {
			got = c.Sha256
		}
		return nil, wire.Errorf(wire.InvalidArgument, "commit with sha256 %q, the data's is %s", got, digest)
	}
	s.files[p.name] = p.data
	delete(s.partial, b.UploadId)
	return &uploadpb.Summary{Committed: true, Name: p.name, Size: p.size, Sha256: digest}, nil
}
