package parleyimpl

import (
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/wire"
)

// keyBufSize is the size of a pooled key buffer; a message with a longer
// field name grows its buffer once.
const keyBufSize = 64

// keyBufs holds the buffers map keys are read into. A buffer on the stack
// would escape (msgpack.Decoder reads through an io.Reader), costing one
// allocation per decoded message; a pooled one costs none.
var keyBufs = sync.Pool{New: func() any {
	b := make([]byte, keyBufSize)
	return &b
}}

// DecodeMsgpackFields reads a msgpack map keyed by field name, the
// encoding of a generated message, and calls field once per entry with
// the entry's key, positioned before its value; field must read or skip
// that value. Keys may be msgpack str or bin. A key longer than longest
// (the message's longest field name) names no field: it is read and
// dropped, and field gets a nil key, which it treats as unknown. A nil
// map is an empty message. Maps and arrays are read with
// wire.MsgpackMapLen, so an extension value where the map belongs is an
// error.
//
// The key slice is valid only during the call to field; field must not
// keep it. DecodeMsgpackFields does not allocate (after its buffer pool
// is warm), and field does not escape, so the closure generated code
// passes stays on the stack.
func DecodeMsgpackFields(d *msgpack.Decoder, longest int, field func(key []byte) error) error {
	n, err := wire.MsgpackMapLen(d)
	if err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	bp := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(bp)
	if len(*bp) < longest {
		*bp = make([]byte, longest)
	}
	kb := (*bp)[:max(longest, 1)]
	for range n {
		l, err := d.DecodeBytesLen()
		if err != nil {
			return err
		}
		var key []byte
		if l > len(kb) {
			// Longer than every field name: discard it in pieces.
			for l > 0 {
				c := min(l, len(kb))
				if err := d.ReadFull(kb[:c]); err != nil {
					return err
				}
				l -= c
			}
		} else {
			key = kb[:max(l, 0)]
			if err := d.ReadFull(key); err != nil {
				return err
			}
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return nil
}

// SkipMsgpackMap reads a msgpack map and drops its entries: the decoder
// of a message with no fields. A nil map is accepted.
func SkipMsgpackMap(d *msgpack.Decoder) error {
	n, err := wire.MsgpackMapLen(d)
	if err != nil {
		return err
	}
	for i := 0; i < 2*n; i++ {
		if err := d.Skip(); err != nil {
			return err
		}
	}
	return nil
}
