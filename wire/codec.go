package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
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
// decoders are pooled. It rejects messages nested deeper than
// [DefaultMaxMsgpackDepth]; [NewMsgpack] makes the same codec with another
// limit.
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
//   - data is checked before decoding by [CheckMsgpackDepth]: every str,
//     bin, ext, array and map header must announce no more than the bytes
//     left in data, and arrays and maps may nest no deeper than the
//     codec's limit. A five-byte array header claiming four billion
//     elements is rejected instead of being allocated, and a few kilobytes
//     of gzip that inflate to millions of nested arrays are rejected
//     instead of recursing until the goroutine's stack overflows.
//
// The memory Unmarshal uses is thereby proportional to len(data), which the
// receiver bounds with its message size limit. The factor depends on the
// type decoded into: every msgpack value takes at least one byte and
// becomes one Go value, so a list of an n-byte struct type costs up to
// about n bytes per byte of data. Decoding into any or map[string]any
// makes each value an interface and each map a Go map; the worst case
// measured (Go 1.26) is maps holding one entry each, nested or not, at
// about 170 bytes of heap per byte of data: 700 MB for a 4 MiB message.
// The decoder also recurses once per level of nesting, using a few hundred
// bytes of goroutine stack per level: at the default limit the stack grows
// to 4 MiB (8 MiB when decoding through struct pointers) while a
// 10,000-level message decodes.
//
// Errors from Unmarshal mean the message cannot be decoded; receivers fail
// the call with INTERNAL, as grpc-go does.
var Msgpack Codec = msgpackCodec{}

// DefaultMaxMsgpackDepth is how deeply arrays and maps may nest in a
// message that [Msgpack] accepts: 10,000 levels, the limit protobuf-go and
// encoding/json use. The top-level map of a message is level 1; every
// array or map inside a value at level n is at level n+1, empty or not.
const DefaultMaxMsgpackDepth = 10000

// MsgpackOptions configures a codec made by [NewMsgpack]. The zero value
// gives [Msgpack]'s behaviour.
type MsgpackOptions struct {
	// MaxDepth bounds how deeply arrays and maps may nest in a message
	// that Unmarshal accepts, as [CheckMsgpackDepth] counts them. Zero or
	// less means DefaultMaxMsgpackDepth (10,000).
	//
	// The decoder recurses once per level, using a few hundred bytes of
	// goroutine stack each (up to about 800 bytes when decoding into
	// structs through pointers); a limit in the millions lets a message a
	// few megabytes long grow a goroutine's stack past the Go runtime's
	// 1 GB maximum, which crashes the process.
	MaxDepth int
}

// NewMsgpack returns parley's msgpack codec, named "msgpack", configured by
// opts. It is [Msgpack] with another nesting limit: it implements
// [AppendCodec], is safe for concurrent use, and encodes exactly as Msgpack
// does. NewMsgpack(MsgpackOptions{}) equals Msgpack.
func NewMsgpack(opts MsgpackOptions) Codec {
	if opts.MaxDepth <= 0 || opts.MaxDepth == DefaultMaxMsgpackDepth {
		return msgpackCodec{}
	}
	return msgpackCodec{maxDepth: opts.MaxDepth}
}

// msgpackCodec is Msgpack and the codecs NewMsgpack makes. It is
// comparable, so two codecs with the same limit are equal.
type msgpackCodec struct {
	maxDepth int // 0: DefaultMaxMsgpackDepth
}

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

func (c msgpackCodec) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("parley: msgpack unmarshal: need a non-nil pointer, got %T", v)
	}
	if err := CheckMsgpackDepth(data, c.maxDepth); err != nil {
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
// value, or that nests too deeply ([ErrMsgpackTooDeep]).
var ErrMalformedMsgpack = errors.New("parley: malformed msgpack")

// ErrMsgpackTooDeep is wrapped by the errors of [CheckMsgpackDepth] (and so
// of Msgpack.Unmarshal) for data whose arrays and maps nest deeper than the
// limit. It wraps [ErrMalformedMsgpack], so errors.Is(err,
// ErrMalformedMsgpack) holds for every rejection.
var ErrMsgpackTooDeep = fmt.Errorf("%w: nested too deeply", ErrMalformedMsgpack)

// CheckMsgpack is [CheckMsgpackDepth] with the default limit,
// [DefaultMaxMsgpackDepth]: it reports whether data is exactly one
// well-formed msgpack value with plausible length headers whose arrays and
// maps nest at most 10,000 levels deep. [Msgpack].Unmarshal calls it before
// decoding.
func CheckMsgpack(data []byte) error {
	return CheckMsgpackDepth(data, DefaultMaxMsgpackDepth)
}

// checkStackSize is how many levels of nesting CheckMsgpackDepth tracks
// without allocating; deeper data moves the stack to the heap.
const checkStackSize = 64

// CheckMsgpackDepth reports whether data is exactly one well-formed msgpack
// value whose length headers are all plausible and whose arrays and maps
// nest at most maxDepth levels deep. A maxDepth of zero or less means
// [DefaultMaxMsgpackDepth].
//
// Plausible means: every str, bin and ext announces no more bytes than
// remain, and every array and map announces no more elements than could
// fit in the bytes that remain (each element takes at least one byte).
// Depth counts containers: a top-level array or map is at level 1, and an
// array or map that is an element, key or value of a container at level n
// is at level n+1, even when empty. An ext value is the msgpack timestamp
// (type -1, 4, 8 or 12 bytes) or holds one msgpack value, checked by the
// same rules one level deeper: the msgpack library reads a map, array, str
// or bin out of an ext's payload where it expects one (types registered
// with msgpack.RegisterExt are encoded so), so an opaque payload would let
// lying headers past this check (19 bytes used to make Msgpack.Unmarshal
// allocate 4 GiB).
//
// CheckMsgpackDepth reads data once, in time linear in len(data); it
// recurses only into ext payloads, at most 8 ext values deep, so it is
// safe on any input. It allocates nothing for data
// nested up to 64 levels deep; deeper data costs a few allocations that
// total less than 32 bytes per level, bounded by maxDepth. The error wraps
// [ErrMalformedMsgpack], and also [ErrMsgpackTooDeep] when data nests too
// deeply; it names the byte offset where the problem was found.
func CheckMsgpackDepth(data []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxMsgpackDepth
	}
	return checkMsgpack(data, maxDepth, 0)
}

// checkExt checks an ext value's type byte and payload, ext (the value's
// bytes after its length field), found at byte start. The timestamp
// extension (type -1) must hold 4, 8 or 12 bytes. Any other payload must
// be one well-formed msgpack value: the msgpack library decodes a map,
// array, str or bin found where an ext stands from the ext's payload
// (its registered types are encoded so), so an unchecked payload would
// reach the decoder with lying length headers, or nesting past the limit.
// The ext counts as a level.
func checkExt(ext []byte, start, level, maxDepth, extDepth int) error {
	typ, payload := int8(ext[0]), ext[1:]
	if typ == -1 {
		if n := len(payload); n != 4 && n != 8 && n != 12 {
			return fmt.Errorf("%w: timestamp extension at byte %d holds %d bytes, not 4, 8 or 12", ErrMalformedMsgpack, start, n)
		}
		return nil
	}
	if level > maxDepth {
		return fmt.Errorf("%w: the extension at byte %d is at level %d, over the limit of %d", ErrMsgpackTooDeep, start, level, maxDepth)
	}
	if extDepth >= maxExtNesting {
		return fmt.Errorf("%w: extension values nested more than %d deep at byte %d", ErrMalformedMsgpack, maxExtNesting, start)
	}
	if err := checkMsgpack(payload, maxDepth-level, extDepth+1); err != nil {
		return fmt.Errorf("in the extension of type %d at byte %d: %w", typ, start, err)
	}
	return nil
}

// maxExtNesting bounds how many ext values may contain one another: each
// ext payload is checked by a recursive call.
const maxExtNesting = 8

// checkMsgpack is CheckMsgpackDepth for data inside extDepth ext values.
func checkMsgpack(data []byte, maxDepth, extDepth int) error {
	// left is how many values the innermost non-empty container being
	// read has left; the top-level value is the one value of an outermost
	// pseudo-container. open holds the left counts of the containers
	// around the innermost one, outermost first, so len(open) is the
	// innermost container's level, and outer is their sum. A container
	// with nothing left stays in place until its last value has been read
	// in full, so that value's own containers count it as a level. Each
	// container is pushed and popped once, which keeps the check linear.
	left, outer := uint64(1), uint64(0)
	var stack [checkStackSize]uint64
	open := stack[:0]
	i := 0
	for {
		// Close the containers whose values have all been read.
		for left == 0 {
			if len(open) == 0 {
				if i != len(data) {
					return fmt.Errorf("%w: %d trailing bytes after the value", ErrMalformedMsgpack, len(data)-i)
				}
				return nil
			}
			left = open[len(open)-1]
			open = open[:len(open)-1]
			outer -= left
		}
		if i >= len(data) {
			return fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformedMsgpack, i)
		}
		left--
		start := i
		c := data[i]
		i++
		// Scalars are skipped and the loop goes on; arrays and maps fall
		// through to the code after the switch with their element count.
		var elems uint64
		switch {
		case c <= 0x7f, c >= 0xe0: // positive and negative fixint
			continue
		case c <= 0x8f: // fixmap
			elems = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			elems = uint64(c & 0x0f)
		case c >= 0xdc && c <= 0xdf: // array16, array32, map16, map32
			n := 2 << (c & 1) // size of the length field
			if len(data)-i < n {
				return fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformedMsgpack, i)
			}
			if n == 2 {
				elems = uint64(binary.BigEndian.Uint16(data[i:]))
			} else {
				elems = uint64(binary.BigEndian.Uint32(data[i:]))
			}
			i += n
			if c >= 0xde {
				elems *= 2
			}
		default:
			var skip uint64 // bytes to skip after the header
			var n int       // size of the length field
			switch {
			case c <= 0xbf: // fixstr
				skip = uint64(c & 0x1f)
			case c == 0xc0, c == 0xc2, c == 0xc3: // nil, false, true
			case c == 0xc1:
				return fmt.Errorf("%w: reserved byte 0xc1 at byte %d", ErrMalformedMsgpack, start)
			case c == 0xc4, c == 0xd9: // bin8, str8
				n = 1
			case c == 0xc5, c == 0xda: // bin16, str16
				n = 2
			case c == 0xc6, c == 0xdb: // bin32, str32
				n = 4
			case c == 0xc7: // ext8: len8, type
				n, skip = 1, 1
			case c == 0xc8: // ext16
				n, skip = 2, 1
			case c == 0xc9: // ext32
				n, skip = 4, 1
			case c == 0xca: // float32
				skip = 4
			case c == 0xcb: // float64
				skip = 8
			case c == 0xcc, c == 0xd0: // uint8, int8
				skip = 1
			case c == 0xcd, c == 0xd1:
				skip = 2
			case c == 0xce, c == 0xd2:
				skip = 4
			case c == 0xcf, c == 0xd3:
				skip = 8
			case c <= 0xd8: // fixext 1, 2, 4, 8, 16 plus type byte
				skip = 1 + 1<<(c-0xd4)
			}
			if n > 0 {
				if len(data)-i < n {
					return fmt.Errorf("%w: unexpected end of data at byte %d", ErrMalformedMsgpack, i)
				}
				switch n {
				case 1:
					skip += uint64(data[i])
				case 2:
					skip += uint64(binary.BigEndian.Uint16(data[i:]))
				case 4:
					skip += uint64(binary.BigEndian.Uint32(data[i:]))
				}
				i += n
			}
			if skip > uint64(len(data)-i) {
				return fmt.Errorf("%w: value at byte %d announces %d bytes, only %d left", ErrMalformedMsgpack, i, skip, len(data)-i)
			}
			if c == 0xc7 || c == 0xc8 || c == 0xc9 || c >= 0xd4 && c <= 0xd8 {
				if err := checkExt(data[i:i+int(skip)], start, len(open)+1, maxDepth, extDepth); err != nil {
					return err
				}
			}
			i += int(skip)
			continue
		}
		if len(open) >= maxDepth {
			return fmt.Errorf("%w: the container at byte %d is at level %d, over the limit of %d", ErrMsgpackTooDeep, start, len(open)+1, maxDepth)
		}
		// Every value still to read needs at least one byte, so more
		// values than bytes left means a lying header.
		if left+outer+elems > uint64(len(data)-i) {
			return fmt.Errorf("%w: container at byte %d announces more elements than bytes left", ErrMalformedMsgpack, i)
		}
		if elems > 0 {
			if len(open) == cap(open) {
				// Double, up to the limit: deep data costs few
				// allocations, and never more than the limit needs.
				grown := make([]uint64, len(open), min(2*cap(open), maxDepth))
				copy(grown, open)
				open = grown
			}
			open = append(open, left)
			outer += left
			left = elems
		}
	}
}

// errExtForContainer is the error of MsgpackMapLen and MsgpackArrayLen for
// an extension value.
var errExtForContainer = errors.New("msgpack: an extension value where a map or array belongs")

// MsgpackMapLen reads a map header from d, as d.DecodeMapLen does (-1 for
// nil), but fails on an extension value. The msgpack library reads a map
// out of an ext's payload where it expects one; in a parley message only a
// timestamp is an ext, and its 4 to 12 bytes of payload, read as a map
// header, would make the decoder read the rest of the message out of step
// with what [CheckMsgpack] checked, so that string contents become length
// headers. Code that parley gen writes decodes maps and messages with it.
func MsgpackMapLen(d *msgpack.Decoder) (int, error) {
	if err := noExt(d); err != nil {
		return 0, err
	}
	return d.DecodeMapLen()
}

// MsgpackArrayLen is [MsgpackMapLen] for array headers.
func MsgpackArrayLen(d *msgpack.Decoder) (int, error) {
	if err := noExt(d); err != nil {
		return 0, err
	}
	return d.DecodeArrayLen()
}

// noExt fails if the next value in d is an extension.
func noExt(d *msgpack.Decoder) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	if msgpcode.IsExt(c) {
		return errExtForContainer
	}
	return nil
}
