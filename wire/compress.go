package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
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

// Zstd is the "zstd" Compressor (RFC 8878, the default level of
// github.com/klauspost/compress/zstd), the encoding that grpc-go's optional
// zstd packages and connect-go use under that name. It is safe for
// concurrent use: one encoder serves every caller, and decoders are
// pooled.
//
// Compress writes one frame that declares its content size. Decompress
// accepts several concatenated frames, as Gzip accepts several members. It
// decodes into the output slice, never into a window-sized buffer, and
// bounds memory as follows: a content size declared over max fails before
// anything is allocated, and a frame that declares none stops after the
// block (at most 128 KiB) that takes it past max. A frame may declare a
// window (how far back it refers) larger than max, as streaming encoders
// do (8 MiB); up to [ZstdMaxWindow] is accepted, and the output may then
// reach ZstdMaxWindow before it is refused. A larger window fails with a
// *SizeError, as the reference decoder refuses frames that need too much
// memory.
var Zstd Compressor = zstdCompressor{}

// ZstdMaxWindow is the largest window a zstd frame may declare for
// [Zstd]'s Decompress: 8 MiB, what RFC 8878 recommends every decoder
// support and what streaming encoders use by default.
const ZstdMaxWindow = 8 << 20

type zstdCompressor struct{}

func (zstdCompressor) Name() string { return "zstd" }

// zstdEncoder compresses for every caller: EncodeAll may be called
// concurrently, each call taking one of the encoder's GOMAXPROCS internal
// states. It is made on first use, since it allocates its tables.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(true))
	if err != nil {
		panic("parley: zstd encoder: " + err.Error())
	}
	return e
})

func (zstdCompressor) Compress(dst, src []byte) ([]byte, error) {
	return zstdEncoder().EncodeAll(src, dst), nil
}

// zstdDecoder is one pooled decoder and the output limit it is set to.
// A decoder with concurrency 1 runs DecodeAll on its caller's goroutine
// and starts no goroutine of its own.
type zstdDecoder struct {
	d     *zstd.Decoder
	limit uint64 // the decoder's WithDecoderMaxMemory
}

// zstdNoLimit is the output limit for a negative max: the largest that
// WithDecoderMaxMemory takes.
const zstdNoLimit = 1 << 63

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(zstdNoLimit),
		zstd.WithDecoderMaxWindow(ZstdMaxWindow))
	if err != nil {
		panic("parley: zstd decoder: " + err.Error())
	}
	return &zstdDecoder{d: d, limit: zstdNoLimit}
}}

// decode runs DecodeAll with the output limit set to limit. The decoder
// also refuses frames whose window exceeds limit (ErrWindowSizeExceeded),
// or, for a single-segment frame, whose content size does
// (ErrDecoderSizeExceeded), before decoding them.
func (z *zstdDecoder) decode(dst, src []byte, limit uint64) ([]byte, error) {
	if z.limit != limit {
		// Reset(nil) opens no stream; only the options change.
		if err := z.d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(limit)); err != nil {
			return dst, err
		}
		z.limit = limit
	}
	// DecodeAll counts what dst already holds against the limit, so it
	// decodes after an empty prefix of dst's spare room, and the result is
	// appended to dst (in place when it fits, a copy onto itself).
	out, err := z.d.DecodeAll(src, dst[len(dst):])
	return append(dst, out...), err
}

func (zstdCompressor) Decompress(dst, src []byte, maxSize int) ([]byte, error) {
	// limit bounds the output and the declared sizes: maxSize, raised to
	// the smallest window (1 KiB) so that a small single-segment frame is
	// not refused for its window; the exact check follows decoding.
	limit := uint64(zstdNoLimit)
	if maxSize >= 0 {
		// A declared content size over maxSize fails here, allocating
		// nothing, when the limit is raised to the minimum window below.
		var h zstd.Header
		if h.Decode(src) == nil && h.HasFCS && h.FrameContentSize > uint64(maxSize) {
			return dst, &SizeError{Size: int(min(h.FrameContentSize, math.MaxInt)), Max: maxSize}
		}
		limit = uint64(max(maxSize, zstd.MinWindowSize))
	}
	z := zstdDecoders.Get().(*zstdDecoder)
	defer zstdDecoders.Put(z)
	start := len(dst)
	out, err := z.decode(dst, src, limit)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) && limit < ZstdMaxWindow {
		// A frame declares a window over maxSize but within what every
		// decoder should support: decode it with that bound.
		out, err = z.decode(dst[:start], src, ZstdMaxWindow)
	}
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		// The output, or a size or window a frame declares, passes the
		// limit; the exact size is not known.
		if maxSize < 0 {
			return dst[:start], &SizeError{Size: ZstdMaxWindow + 1, Max: ZstdMaxWindow}
		}
		return dst[:start], &SizeError{Size: maxSize + 1, Max: maxSize}
	case err != nil:
		return dst[:start], fmt.Errorf("%w: zstd: %v", ErrCorruptCompression, err)
	case maxSize >= 0 && len(out)-start > maxSize:
		return dst[:start], &SizeError{Size: len(out) - start, Max: maxSize}
	}
	return out, nil
}
