package h2

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headerBlocks reads one connection's header blocks: a HEADERS frame and
// the CONTINUATION frames after it, decoded with the connection's HPACK
// decoder into one *http2.MetaHeadersFrame. It does what x/net's Framer
// does when its ReadMetaHeaders is set, with the same checks, limits and
// errors (readMetaFrame, checkPseudos), but it keeps its state and its
// field list from one block to the next: the Framer makes them anew for
// every block, about ten allocations a block, a third of a unary call's on
// either side. The Framer still checks that CONTINUATION frames follow
// their HEADERS frame, on every read.
//
// The frame read returns is valid until the next read, like the Framer's
// frames. Reader goroutine.
type headerBlocks struct {
	dec  *hpack.Decoder
	meta http2.MetaHeadersFrame // the block read last

	// The state of the block being read, for emit.
	headersLeft  uint32 // bytes of header list left (MaxHeaderListSize)
	trailersLeft uint32 // the same budget, for the fields a "trailer" field announces
	sawRegular   bool
	invalid      error // a field that makes the block malformed
}

// maxKeptFields bounds the field list kept from one block to the next: a
// peer's one large block should not stay in a connection's memory.
const maxKeptFields = 64

// init makes the blocks decoded with dec, which is then theirs.
func (b *headerBlocks) init(dec *hpack.Decoder) {
	b.dec = dec
	dec.SetEmitFunc(b.emit)
}

// idle drops the field list, for a connection about to park; the decoder,
// whose table is the peer's, stays.
func (b *headerBlocks) idle() {
	b.meta = http2.MetaHeadersFrame{}
}

// read decodes the header block that hf begins, reading its CONTINUATION
// frames from fr. Its errors are those of fr.ReadFrame with ReadMetaHeaders
// set: http2.ConnectionError for a block that cannot be decoded or is far
// too large, http2.StreamError for a malformed request or response (RFC
// 9113, 8.1.1), whatever fr.ReadFrame returned otherwise. A block over
// fr.MaxHeaderListSize is decoded, to keep the HPACK state, but not kept:
// its frame is Truncated.
func (b *headerBlocks) read(fr *http2.Framer, hf *http2.HeadersFrame) (http2.Frame, error) {
	limit := fr.MaxHeaderListSize
	if limit == 0 {
		limit = 16 << 20 // the Framer's default
	}
	fields := b.meta.Fields
	clear(fields) // the last block's strings
	if cap(fields) > maxKeptFields {
		fields = nil
	}
	b.meta = http2.MetaHeadersFrame{HeadersFrame: hf, Fields: fields[:0]}
	b.headersLeft, b.trailersLeft = limit, limit
	b.sawRegular, b.invalid = false, nil
	b.dec.SetEmitEnabled(true)
	b.dec.SetMaxStringLength(int(limit))

	frag, ended := hf.HeaderBlockFragment(), hf.HeadersEnded()
	for {
		// As x/net: a fragment more than twice the list bytes still
		// allowed, or any after the limit was passed or a field was
		// malformed (whose size is then no longer counted), is not
		// decoded; the connection ends.
		if int64(len(frag)) > 2*(int64(b.headersLeft)+int64(b.trailersLeft)) || b.invalid != nil {
			return &b.meta, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := b.dec.Write(frag); err != nil {
			return &b.meta, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if ended {
			break
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		cf, ok := f.(*http2.ContinuationFrame)
		if !ok { // the Framer's frame order check makes sure it is
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		frag, ended = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := b.dec.Close(); err != nil {
		return &b.meta, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if b.invalid != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: b.invalid}
	}
	if err := checkPseudos(b.meta.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &b.meta, nil
}

// emit is the decoder's: it checks one field and adds it to the block.
func (b *headerBlocks) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		// Not the value: it may be sensitive.
		b.invalid = fmt.Errorf("h2: invalid header field value for %q", hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if b.sawRegular {
			b.invalid = errPseudoAfterRegular
		}
	} else {
		b.sawRegular = true
		if !validWireName(hf.Name) {
			b.invalid = fmt.Errorf("h2: invalid header field name %q", hf.Name)
		}
	}
	if b.invalid != nil {
		b.dec.SetEmitEnabled(false)
		return
	}
	left, size := &b.headersLeft, hf.Size()
	if hf.Name == "trailer" {
		// Each field it announces counts as one of its own, by the
		// Framer's arithmetic.
		left = &b.trailersLeft
		n := uint32(strings.Count(hf.Value, ",") + 1)
		size = uint32(len(hf.Value)) - n + 1 + n*hpack.HeaderField{}.Size()
	}
	if size > *left {
		b.dec.SetEmitEnabled(false)
		b.meta.Truncated = true
		b.headersLeft, b.trailersLeft = 0, 0
		return
	}
	*left -= size
	b.meta.Fields = append(b.meta.Fields, hf)
}

var (
	errPseudoAfterRegular = errors.New("h2: pseudo-header field after a regular one")
	errMixedPseudo        = errors.New("h2: request and response pseudo-header fields mixed")
)

// validWireName reports whether name is a valid HTTP/2 field name: a
// token, in lower case.
func validWireName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !httpguts.IsTokenRune(r) || ('A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// checkPseudos checks a block's pseudo-header fields: known names, none
// twice, not of a request and a response both.
func checkPseudos(pf []hpack.HeaderField) error {
	var request, response bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			request = true
		case ":status":
			response = true
		default:
			return fmt.Errorf("h2: invalid pseudo-header %q", hf.Name)
		}
		for _, seen := range pf[:i] {
			if hf.Name == seen.Name {
				return fmt.Errorf("h2: duplicate pseudo-header %q", hf.Name)
			}
		}
	}
	if request && response {
		return errMixedPseudo
	}
	return nil
}
