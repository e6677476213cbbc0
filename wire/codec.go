package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec turns messages into bytes and back. Its Name is the content-type
// subtype: a codec named "msgpack" is used for "application/grpc+msgpack".
//
// Implementations must be safe for concurrent use: one Codec serves every
// call of a server or client at once.
type Codec interface {
	// Name returns the codec's content-type subtype, in lower case.
	Name() string
	// Marshal returns the encoding of v in a new slice that the caller owns.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which must be a non-nil pointer.
	// Unmarshal must not retain data after returning: callers reuse it.
	Unmarshal(data []byte, v any) error
}

// AppendCodec is a [Codec] that can encode into a caller's buffer, which
// lets senders reuse one buffer per stream. [Msgpack] implements it.
type AppendCodec interface {
	Codec
	// MarshalAppend appends the encoding of v to dst and returns the
	// extended slice. On error the returned slice's content beyond len(dst)
	// is unspecified.
	MarshalAppend(dst []byte, v any) ([]byte, error)
}

// Msgpack is parley's codec, named "msgpack" (content-type
// "application/grpc+msgpack"), built on github.com/vmihailenco/msgpack/v5.
// It implements [AppendCodec] and is safe for concurrent use; encoders and
// decoders are pooled.
//
// The encoding is the one docs/protocol.md describes: a message is a
// msgpack map keyed by IDL field names. For Go structs:
//
//   - Fields are named by their `msgpack:"name"` tags (untagged fields by
//     their Go name); `msgpack:",omitempty"` omits zero fields and
//     `msgpack:"-"` skips a field. Fields are written in declaration order.
//   - Integers are written in the smallest msgpack format that holds the
//     value (UseCompactInts), whatever the Go type, and read back into any
//     integer type they fit.
//   - []byte is msgpack bin, string is msgpack str.
//   - Types implementing msgpack.CustomEncoder/CustomDecoder or
//     msgpack.Marshaler/Unmarshaler encode themselves.
//
// Unmarshal differs from msgpack.Unmarshal in four ways, all for talking to
// peers that are older, newer or hostile:
//
//   - *v is reset to its zero value first, so keys absent from the message
//     read as zero even when v is reused (as proto.Unmarshal does);
//   - map keys that name no field are ignored, so new fields never break old
//     readers;
//   - data must hold exactly one msgpack value: trailing bytes are an error;
//   - data is checked before decoding: every str, bin, ext, array and map
//     header must announce no more than the bytes left in data. A
//     five-byte array header claiming four billion elements is rejected
//     instead of being allocated. Allocation is thereby bounded by a small
//     multiple of len(data), which the receiver bounds with its message
//     size limit.
//
// Errors from Unmarshal mean the message cannot be decoded; receivers fail
// the call with INTERNAL, as grpc-go does.
var Msgpack Codec = msgpackCodec{}

type msgpackCodec struct{}

// sliceWriter is an io.Writer and io.ByteWriter appending to a slice, so the
// msgpack encoder writes straight into the caller's buffer.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *sliceWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// msgpackEncoder is one pooled encoder with its output buffer. The pool
// owns it between calls; during a call the calling goroutine owns it.
type msgpackEncoder struct {
	w   sliceWriter
	enc *msgpack.Encoder
}

// maxPooledBuffer is the largest scratch buffer kept in a pool; bigger ones
// are dropped so one huge message does not pin memory forever.
const maxPooledBuffer = 64 << 10

var msgpackEncoders = sync.Pool{New: func() any {
	e := &msgpackEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.UseCompactInts(true)
	return e
}}

// msgpackDecoder is one pooled decoder with its input reader.
type msgpackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var msgpackDecoders = sync.Pool{New: func() any {
	d := &msgpackDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

func (msgpackCodec) Name() string { return "msgpack" }

func (c msgpackCodec) Marshal(v any) ([]byte, error) {
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.w.b = e.w.b[:0]
	err := e.enc.Encode(v)
	var out []byte
	if err == nil {
		out = bytes.Clone(e.w.b)
	}
	if cap(e.w.b) > maxPooledBuffer {
		e.w.b = nil
	}
	msgpackEncoders.Put(e)
	if err != nil {
		return nil, fmt.Errorf("parley: msgpack marshal %T: %w", v, err)
	}
	return out, nil
}

func (msgpackCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	e := msgpackEncoders.Get().(*msgpackEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	msgpackEncoders.Put(e)
	if err != nil {
		return out, fmt.Errorf("parley: msgpack marshal %T: %w", v, err)
	}
	return out, nil
}

func (msgpackCodec) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("parley: msgpack unmarshal: need a non-nil pointer, got %T", v)
	}
	if err := CheckMsgpack(data); err != nil {
		return err
	}
	rv.Elem().SetZero()
	d := msgpackDecoders.Get().(*msgpackDecoder)
	d.r.Reset(data)
	d.dec.ResetReader(&d.r)
	err := d.dec.Decode(v)
	left := d.r.Len()
	d.r.Reset(nil)
	msgpackDecoders.Put(d)
	if err != nil {
		return fmt.Errorf("parley: msgpack unmarshal %T: %w", v, err)
	}
	if left != 0 {
		return fmt.Errorf("parley: msgpack unmarshal %T: %d trailing bytes after the message", v, left)
	}
	return nil
}

// ErrMalformedMsgpack is wrapped by the errors of [CheckMsgpack] (and so of
// Msgpack.Unmarshal) for data that is not exactly one well-formed msgpack
// value.
var ErrMalformedMsgpack = errors.New("parley: malformed msgpack")

// CheckMsgpack reports whether data is exactly one well-formed msgpack
// value whose length headers are all plausible: every str, bin and ext
// announces no more bytes than remain, and every array and map announces no
// more elements than could fit in the bytes that remain (each element takes
// at least one byte). It reads data once, allocates nothing and does not
// recurse, so it is safe on any input. [Msgpack].Unmarshal calls it before
// decoding; the error wraps [ErrMalformedMsgpack].
func CheckMsgpack(data []byte) error {
	// pending counts the values still to read: the top-level one, plus the
	// elements announced by the arrays and maps opened so far. Each needs
	// at least one byte, so pending > len(data)-i means a lying header.
	pending := uint64(1)
	i := 0
	for pending > 0 {
		if i >= len(data) {
			return fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformedMsgpack, i)
		}
		pending--
		c := data[i]
		i++
		var skip, elems uint64 // bytes to skip after the header, values to add
		switch {
		case c <= 0x7f, c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			var n int // size of the length field
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return fmt.Errorf("%w: reserved byte 0xc1 at byte %d", ErrMalformedMsgpack, i-1)
			case 0xc4, 0xd9: // bin8, str8
				n = 1
			case 0xc5, 0xda: // bin16, str16
				n = 2
			case 0xc6, 0xdb: // bin32, str32
				n = 4
			case 0xc7: // ext8: len8, type
				n, skip = 1, 1
			case 0xc8: // ext16
				n, skip = 2, 1
			case 0xc9: // ext32
				n, skip = 4, 1
			case 0xca: // float32
				skip = 4
			case 0xcb: // float64
				skip = 8
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1:
				skip = 2
			case 0xce, 0xd2:
				skip = 4
			case 0xcf, 0xd3:
				skip = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 plus type byte
				skip = 1 + 1<<(c-0xd4)
			case 0xdc, 0xde: // array16, map16
				n = 2
			case 0xdd, 0xdf: // array32, map32
				n = 4
			}
			if n > 0 {
				if len(data)-i < n {
					return fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformedMsgpack, i)
				}
				var l uint64
				switch n {
				case 1:
					l = uint64(data[i])
				case 2:
					l = uint64(binary.BigEndian.Uint16(data[i:]))
				case 4:
					l = uint64(binary.BigEndian.Uint32(data[i:]))
				}
				i += n
				switch c {
				case 0xdc, 0xdd:
					elems = l
				case 0xde, 0xdf:
					elems = 2 * l
				default:
					skip += l
				}
			}
		}
		if skip > uint64(len(data)-i) {
			return fmt.Errorf("%w: value at byte %d announces %d bytes, only %d left", ErrMalformedMsgpack, i, skip, len(data)-i)
		}
		i += int(skip)
		pending += elems
		if pending > uint64(len(data)-i) {
			return fmt.Errorf("%w: container at byte %d announces more elements than bytes left", ErrMalformedMsgpack, i)
		}
	}
	if i != len(data) {
		return fmt.Errorf("%w: %d trailing bytes after the value", ErrMalformedMsgpack, len(data)-i)
	}
	return nil
}
