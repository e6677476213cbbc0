package runtime

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/parleyrpc/parley/wire"
)

// msgReader reads length-prefixed gRPC messages from a byte stream (an
// HTTP/2 request or response body) with wire.MessageReader, and adds what
// a call needs on top: decompression, the message cardinality of the
// method, and stats. It works on a blocking reader (next) and on one that
// returns 0, nil when nothing has arrived (step). One goroutine at a time
// uses it.
type msgReader struct {
	r       io.Reader
	maxSize int
	// comp decompresses messages whose flag is set; nil when the peer
	// declared no grpc-encoding (or one this side lacks: compErr), in
	// which case a set flag is an error.
	comp wire.Compressor
	// compErr, if set, is the error for a compressed message when comp is
	// nil because the declared grpc-encoding is not one this side has.
	compErr error
	stats   *callStats // nil: no stats
	// single, if set, names the one message the stream may carry
	// ("request" on a unary or server-streaming call): a byte after it
	// fails the stream with cardinalityError.
	single string

	wr         wire.MessageReader // reads r; set up by the first step
	compressed bool               // the flag of the message step returned last
	got        bool               // a message was returned
}

// next returns the next message's payload, decompressed, in a fresh slice
// the caller may keep. At a clean end between messages it returns io.EOF;
// every other error is a *wire.Error with the status gRPC prescribes, except
// errors from the underlying reader, which are returned as they are.
func (mr *msgReader) next() ([]byte, error) {
	for {
		raw, ok, err := mr.step()
		if err != nil {
			return nil, err
		}
		if ok {
			return mr.inflate(raw)
		}
	}
}

// step reads what it can toward the next message. ok reports a complete
// message, whose payload is returned as sent (compressed if its flag says
// so; see inflate); !ok with a nil error means the reader had nothing more
// for now. Errors are as next's.
func (mr *msgReader) step() (raw []byte, ok bool, err error) {
	if mr.wr.R == nil {
		mr.wr.R, mr.wr.MaxSize = mr.r, mr.maxSize
	}
	compressed, raw, ok, err := mr.wr.Step()
	if mr.got && mr.single != "" && (ok || mr.wr.Started()) {
		return nil, false, cardinalityError(mr.single, manyMessages)
	}
	if err != nil || !ok {
		return nil, false, err
	}
	if compressed && mr.comp == nil {
		if mr.compErr != nil {
			return nil, false, mr.compErr
		}
		return nil, false, wire.Errorf(wire.Internal, "compressed flag set on a message, but no grpc-encoding was declared")
	}
	mr.compressed, mr.got = compressed, true
	return raw, true, nil
}

// costly reports whether the message step just returned should be
// finished off the transport's reading goroutine: it is compressed or
// large, or a StatsHandler (user code that may block) is to see it.
func (mr *msgReader) costly(raw []byte) bool {
	return mr.bulky(raw) || mr.stats != nil
}

// bulky reports whether the message step returned may cost much more
// memory decoded than it holds now: compressed, or larger than
// inlineDecodeMax.
func (mr *msgReader) bulky(raw []byte) bool {
	return mr.compressed || len(raw) > inlineDecodeMax
}

// inlineDecodeMax is the largest message decoded on the transport's
// reading goroutine; larger ones, whose decoding would hold up the
// connection's other streams, are handed to a goroutine.
const inlineDecodeMax = 16 << 10

// inflate decompresses the payload step returned, if it was compressed,
// and reports it to the stats handler.
func (mr *msgReader) inflate(raw []byte) ([]byte, error) {
	if !mr.compressed {
		mr.stats.received(wire.PrefixLen+len(raw), len(raw))
		return raw, nil
	}
	out, err := mr.comp.Decompress(nil, raw, mr.maxSize)
	if err != nil {
		var se *wire.SizeError
		if errors.As(err, &se) {
			return nil, wire.Errorf(wire.ResourceExhausted, "received message after decompression larger than max (%d)", mr.maxSize)
		}
		return nil, wire.Errorf(wire.Internal, "failed to decompress the received message: %v", err)
	}
	mr.stats.received(wire.PrefixLen+len(raw), len(out))
	return out, nil
}

// encodeMessage marshals v with codec and frames it (prefix included),
// compressing with comp when it is not nil and the encoded message has at
// least minComp bytes (CompressMinBytes). It enforces maxSize on the
// payload as sent.
func encodeMessage(codec wire.Codec, comp wire.Compressor, minComp int, v any, maxSize int) ([]byte, error) {
	var payload []byte
	var err error
	if ac, ok := codec.(wire.AppendCodec); ok && comp == nil {
		// Marshal after a reserved prefix into a pooled scratch buffer,
		// then copy out exactly: one allocation of the right size, where
		// growing a fresh buffer would reallocate and copy a large
		// message a dozen times.
		bp := encodeBufs.Get().(*[]byte)
		buf := append((*bp)[:0], 0, 0, 0, 0, 0)
		buf, err = ac.MarshalAppend(buf, v)
		if err != nil {
			putEncodeBuf(bp, buf)
			return nil, wire.Errorf(wire.Internal, "failed to marshal the message: %v", err)
		}
		n := len(buf) - wire.PrefixLen
		if maxSize >= 0 && n > maxSize {
			putEncodeBuf(bp, buf)
			return nil, wire.Errorf(wire.ResourceExhausted, "trying to send message larger than max (%d vs. %d)", n, maxSize)
		}
		wire.AppendPrefix(buf[:0], false, n)
		out := make([]byte, len(buf))
		copy(out, buf)
		putEncodeBuf(bp, buf)
		return out, nil
	}
	payload, err = codec.Marshal(v)
	if err != nil {
		return nil, wire.Errorf(wire.Internal, "failed to marshal the message: %v", err)
	}
	compressed := false
	if comp != nil && len(payload) >= minComp {
		payload, err = comp.Compress(nil, payload)
		if err != nil {
			return nil, wire.Errorf(wire.Internal, "failed to compress the message: %v", err)
		}
		compressed = true
	}
	if maxSize >= 0 && len(payload) > maxSize {
		return nil, wire.Errorf(wire.ResourceExhausted, "trying to send message larger than max (%d vs. %d)", len(payload), maxSize)
	}
	return wire.AppendMessage(make([]byte, 0, wire.PrefixLen+len(payload)), compressed, payload), nil
}

// decodeMessage unmarshals payload into v, mapping failure to INTERNAL as
// grpc-go does. A codec that panics on hostile bytes (a bug, but one a
// peer could trigger at will) fails the call instead of the process.
func decodeMessage(codec wire.Codec, payload []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = wire.Errorf(wire.Internal, "failed to unmarshal the received message: the codec panicked: %v", r)
		}
	}()
	if err := codec.Unmarshal(payload, v); err != nil {
		return wire.Errorf(wire.Internal, "failed to unmarshal the received message: %v", err)
	}
	return nil
}

// cardinalityError reports a peer that sent the wrong number of messages for
// the method's kind: n of them, or more than one for manyMessages (a reader
// that stops at the second message does not count the rest). The code is
// INTERNAL, as grpc-go's for a cardinality violation in either direction.
func cardinalityError(what string, n int) error {
	if n == manyMessages {
		return wire.NewError(wire.Internal, fmt.Sprintf("cardinality violation: expected exactly one %s message, got more than one", what))
	}
	return wire.NewError(wire.Internal, fmt.Sprintf("cardinality violation: expected exactly one %s message, got %d", what, n))
}

// manyMessages is cardinalityError's count for "more than one".
const manyMessages = -1

// encodeBufs holds scratch buffers for encodeMessage.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledEncodeBuf bounds the scratch buffers kept for reuse, so one
// huge message does not pin its buffer in the pool.
const maxPooledEncodeBuf = 4 << 20

func putEncodeBuf(bp *[]byte, buf []byte) {
	if cap(buf) > maxPooledEncodeBuf {
		return
	}
	*bp = buf[:0]
	encodeBufs.Put(bp)
}
