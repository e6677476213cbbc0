package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Compressor compresses individual messages for one grpc-encoding. Its Name
// is the value of the grpc-encoding and grpc-accept-encoding headers.
//
// "Compression contexts are NOT maintained over message boundaries,
// implementations must create a new context for each message in the stream"
// (PROTOCOL-HTTP2.md): each call of Compress and Decompress is independent.
// Implementations must be safe for concurrent use.
type Compressor interface {
	// Name returns the encoding's name, for example "gzip".
	Name() string
	// Compress appends the compressed form of src to dst and returns the
	// extended slice.
	Compress(dst, src []byte) ([]byte, error)
	// Decompress appends the decompressed form of src to dst and returns
	// the extended slice. When max >= 0 and the output would exceed max
	// bytes, it stops as soon as it has produced max+1 bytes and returns
	// dst unchanged (its original length) with a *SizeError, so a small
	// message that inflates to gigabytes ("decompression bomb") costs at
	// most max+1 bytes of memory. A negative max means no limit. Corrupt
	// input is an error wrapping [ErrCorruptCompression]; receivers fail
	// the call with INTERNAL ("Could not decompress, but compression
	// algorithm supported", statuscodes.md).
	Decompress(dst, src []byte, max int) ([]byte, error)
}

// ErrCorruptCompression is wrapped by the errors of Decompress for input
// that is not a valid compressed message.
var ErrCorruptCompression = errors.New("parley: corrupt compressed message")

// Gzip is the "gzip" Compressor (RFC 1952, default compression level),
// interoperable with grpc-go's gzip compressor. It is safe for concurrent
// use; gzip writers and readers are pooled. Like grpc-go it accepts several
// concatenated gzip members in one message.
var Gzip Compressor = gzipCompressor{}

type gzipCompressor struct{}

// gzipWriter is one pooled gzip.Writer with its output buffer.
type gzipWriter struct {
	w  sliceWriter
	zw *gzip.Writer
}

var gzipWriters = sync.Pool{New: func() any {
	g := &gzipWriter{}
	g.zw = gzip.NewWriter(&g.w)
	return g
}}

// gzipReader is one pooled gzip.Reader with its input reader. zr is nil
// until first use, because gzip.NewReader needs a valid header.
type gzipReader struct {
	r  bytes.Reader
	zr *gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return &gzipReader{} }}

func (gzipCompressor) Name() string { return "gzip" }

func (gzipCompressor) Compress(dst, src []byte) ([]byte, error) {
	g := gzipWriters.Get().(*gzipWriter)
	g.w.b = dst
	g.zw.Reset(&g.w)
	_, err := g.zw.Write(src)
	if err == nil {
		err = g.zw.Close()
	}
	out := g.w.b
	g.w.b = nil
	gzipWriters.Put(g)
	if err != nil {
		return dst, fmt.Errorf("parley: gzip compress: %w", err)
	}
	return out, nil
}

// maxSizeHint caps the output space allocated up front from the size a gzip
// stream claims in its trailer, which a peer can forge.
const maxSizeHint = 64 << 10

func (gzipCompressor) Decompress(dst, src []byte, maxSize int) ([]byte, error) {
	g := gzipReaders.Get().(*gzipReader)
	defer func() {
		g.r.Reset(nil)
		gzipReaders.Put(g)
	}()
	g.r.Reset(src)
	var err error
	if g.zr == nil {
		g.zr, err = gzip.NewReader(&g.r)
	} else {
		err = g.zr.Reset(&g.r)
	}
	if err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", ErrCorruptCompression, err)
	}
	start := len(dst)
	// limit is the most output to produce: one byte past maxSize is enough
	// to know the message is too large.
	limit := -1
	if maxSize >= 0 && maxSize < math.MaxInt {
		limit = maxSize + 1
	}
	// ISIZE, the last four bytes, is the uncompressed size modulo 2^32 of
	// the last member: a hint only.
	hint := 512
	if len(src) >= 18 {
		hint = max(hint, int(binary.LittleEndian.Uint32(src[len(src)-4:])))
	}
	if limit >= 0 {
		hint = min(hint, limit)
	}
	dst = slices.Grow(dst, min(hint, maxSizeHint))
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, len(dst)-start+512)
		}
		end := cap(dst)
		if limit >= 0 && end-start > limit {
			end = start + limit
		}
		n, rerr := g.zr.Read(dst[len(dst):end])
		dst = dst[:len(dst)+n]
		if maxSize >= 0 && len(dst)-start > maxSize {
			return dst[:start], &SizeError{Size: len(dst) - start, Max: maxSize}
		}
		if rerr == io.EOF {
			return dst, nil
		}
		if rerr != nil {
			return dst[:start], fmt.Errorf("%w: gzip: %v", ErrCorruptCompression, rerr)
		}
	}
}
