package reflection_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/wire"
)

// FuzzRequest: any bytes either fail to decode with ErrMalformedProto or
// decode into a request that re-encodes to bytes decoding to the same
// request.
func FuzzRequest(f *testing.F) {
	for _, r := range []*reflection.Request{
		{Host: "h", Kind: reflection.ListServices, Name: "*"},
		{Kind: reflection.FileByFilename, Name: "chat.proto"},
		{Kind: reflection.FileContainingSymbol, Name: "parley.chat.v1.Chat"},
		{Kind: reflection.FileContainingExtension, Name: "google.protobuf.MethodOptions", ExtensionNumber: 50001},
		{Kind: reflection.FileContainingExtension, Name: "x", ExtensionNumber: -1},
		{Kind: reflection.AllExtensionNumbersOfType, Name: "google.protobuf.FieldOptions"},
	} {
		b, err := r.AppendProto(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x2a, 0x03, 0x08, 0x01, 0x02}) // a varint where a string belongs
	f.Add([]byte{0x3a, 0x05, 'a'})              // truncated
	f.Fuzz(func(t *testing.T, data []byte) {
		var r reflection.Request
		if err := r.UnmarshalProto(data); err != nil {
			if !errors.Is(err, wire.ErrMalformedProto) {
				t.Fatalf("error %v does not wrap ErrMalformedProto", err)
			}
			return
		}
		b, err := r.AppendProto(nil)
		if err != nil {
			t.Fatal(err)
		}
		var again reflection.Request
		if err := again.UnmarshalProto(b); err != nil || again != r {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, r)
		}
	})
}

// FuzzResponse is FuzzRequest for responses.
func FuzzResponse(f *testing.F) {
	for _, r := range []*reflection.Response{
		{ValidHost: "h", OriginalRequest: &reflection.Request{Kind: reflection.ListServices}, Kind: reflection.ListServiceResponse, Services: []string{"a.B", "c.D"}},
		{Kind: reflection.FileDescriptorResponse, FileDescriptorProtos: [][]byte{[]byte("\n\x01a"), {}}},
		{Kind: reflection.ExtensionNumberResponse, BaseTypeName: "a.B", ExtensionNumbers: []int32{1, 50001, -2}},
		{Kind: reflection.ErrorResponse, ErrorCode: wire.NotFound, ErrorMessage: "unknown symbol x"},
	} {
		b, err := r.AppendProto(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x2a, 0x04, 0x10, 0x01, 0x10, 0x02}) // unpacked extension numbers
	f.Add([]byte{0x2a, 0x03, 0x12, 0x01, 0xff})       // a truncated packed varint
	f.Fuzz(func(t *testing.T, data []byte) {
		var r reflection.Response
		if err := r.UnmarshalProto(data); err != nil {
			if !errors.Is(err, wire.ErrMalformedProto) {
				t.Fatalf("error %v does not wrap ErrMalformedProto", err)
			}
			return
		}
		b, err := r.AppendProto(nil)
		if err != nil {
			t.Fatal(err)
		}
		var again reflection.Response
		if err := again.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		if !equalResponses(&again, &r) {
			t.Fatalf("round trip: %+v; want %+v", again, r)
		}
		b2, _ := again.AppendProto(nil)
		if !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not stable: %x then %x", b, b2)
		}
	})
}

// equalResponses compares responses, taking nil and empty slices as equal.
func equalResponses(a, b *reflection.Response) bool {
	norm := func(r reflection.Response) reflection.Response {
		if len(r.FileDescriptorProtos) == 0 {
			r.FileDescriptorProtos = nil
		}
		for i, fd := range r.FileDescriptorProtos {
			if len(fd) == 0 {
				r.FileDescriptorProtos[i] = nil
			}
		}
		if len(r.ExtensionNumbers) == 0 {
			r.ExtensionNumbers = nil
		}
		if len(r.Services) == 0 {
			r.Services = nil
		}
		return r
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}
