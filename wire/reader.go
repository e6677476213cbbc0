package wire

import "io"

// MessageReader reads length-prefixed messages from a byte stream, such as
// the DATA of an HTTP/2 request or response, assembling each across as
// many reads as it takes. It is [ParseMessage] for a stream that arrives
// piecemeal: it works on a blocking reader and on one that returns 0, nil
// when nothing has arrived yet (a push reader's TryRead).
//
// The memory it holds for a message grows with the bytes that have
// arrived, not with the length the prefix announces: a peer that announces
// large messages and sends little of them costs little. A message up to
// 32 KiB gets one buffer of its exact size; a larger one starts at 32 KiB
// and grows eightfold each time it fills, up to its length.
//
// One goroutine at a time uses a MessageReader.
type MessageReader struct {
	// R is the stream.
	R io.Reader
	// MaxSize bounds a message's payload as sent; a negative MaxSize
	// means no limit.
	MaxSize int

	prefix     [PrefixLen]byte
	pn         int    // prefix bytes read
	sized      bool   // the prefix was parsed: length and compressed are set
	length     int    // the payload's length, from the prefix
	buf        []byte // the payload so far, in buf[:bn]
	bn         int    // payload bytes read
	compressed bool
}

// Message buffer sizing: see MessageReader.
const (
	msgBufStart  = 32 << 10
	msgBufGrowth = 8
)

// Step reads what it can toward the next message. ok reports a complete
// message: payload is a new slice the caller may keep, and compressed its
// flag. !ok with a nil error means the reader had nothing more for now.
// At a clean end between messages Step returns io.EOF. A malformed stream
// fails with a *Error with code INTERNAL, a message over MaxSize with one
// with code RESOURCE_EXHAUSTED, as soon as its prefix is complete; errors
// from R are returned as they are.
func (r *MessageReader) Step() (compressed bool, payload []byte, ok bool, err error) {
	for r.pn < PrefixLen {
		n, err := r.R.Read(r.prefix[r.pn:])
		r.pn += n
		if r.pn == PrefixLen {
			break
		}
		if err != nil {
			if err == io.EOF {
				if r.pn == 0 {
					return false, nil, false, io.EOF
				}
				return false, nil, false, Errorf(Internal, "stream ended inside a message prefix (%d of %d bytes)", r.pn, PrefixLen)
			}
			return false, nil, false, err
		}
		if n == 0 {
			return false, nil, false, nil
		}
	}
	if !r.sized {
		if err := r.parsePrefix(); err != nil {
			return false, nil, false, err
		}
	}
	for r.bn < r.length {
		if r.bn == len(r.buf) {
			r.grow()
		}
		n, err := r.R.Read(r.buf[r.bn:])
		r.bn += n
		if r.bn == r.length {
			break
		}
		if err != nil {
			if err == io.EOF {
				return false, nil, false, Errorf(Internal, "stream ended inside a message (expected %d bytes)", r.length)
			}
			return false, nil, false, err
		}
		if n == 0 {
			return false, nil, false, nil
		}
	}
	payload, compressed = r.buf[:r.length], r.compressed
	r.pn, r.sized, r.buf, r.bn = 0, false, nil, 0
	return compressed, payload, true, nil
}

// Started reports whether any byte of a message not yet returned has
// been read.
func (r *MessageReader) Started() bool { return r.pn > 0 }

// parsePrefix checks the complete prefix and sets up the message it
// announces, with the first part of its buffer.
func (r *MessageReader) parsePrefix() error {
	compressed, length, _, err := ParsePrefix(r.prefix[:])
	if err != nil {
		return Errorf(Internal, "malformed message prefix: %v", err)
	}
	if err := checkSize(length, r.MaxSize); err != nil {
		return Errorf(ResourceExhausted, "received message larger than max (%d vs. %d)", length, r.MaxSize)
	}
	r.sized, r.length, r.compressed = true, int(length), compressed
	r.buf, r.bn = make([]byte, min(r.length, msgBufStart)), 0
	return nil
}

// grow makes the message buffer msgBufGrowth times larger, up to the
// message's length.
func (r *MessageReader) grow() {
	buf := make([]byte, min(r.length, msgBufGrowth*len(r.buf)))
	copy(buf, r.buf[:r.bn])
	r.buf = buf
}
