package reflection

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// The reflection service's messages (proto/grpc/reflection/v1/reflection.proto;
// v1alpha has the same fields and numbers), written in Go as plain structs
// whose oneofs are a kind and the fields of that kind, and encoded in
// protobuf by hand with protowire: they implement wire.ProtoMessage, so
// the wire.Proto codec carries them. The service
// speaks protobuf only, as every reflection client does.

// RequestKind says which message_request a Request holds.
type RequestKind int

// The kinds of request, with the field numbers of their oneof cases in
// ServerReflectionRequest.
const (
	RequestNone               RequestKind = 0 // no message_request set
	FileByFilename            RequestKind = 3
	FileContainingSymbol      RequestKind = 4
	FileContainingExtension   RequestKind = 5
	AllExtensionNumbersOfType RequestKind = 6
	ListServices              RequestKind = 7
)

// Request is grpc.reflection.v1.ServerReflectionRequest.
type Request struct {
	// Host is the host the request is about (servers echo it).
	Host string
	// Kind is the message_request case that is set.
	Kind RequestKind
	// Name is the case's string: the file name, the symbol, the message
	// type (ExtensionRequest.containing_type for FileContainingExtension),
	// or the list_services string, which servers ignore.
	Name string
	// ExtensionNumber is ExtensionRequest.extension_number, for
	// FileContainingExtension.
	ExtensionNumber int32
}

// ResponseKind says which message_response a Response holds.
type ResponseKind int

// The kinds of response, with the field numbers of their oneof cases in
// ServerReflectionResponse.
const (
	ResponseNone            ResponseKind = 0
	FileDescriptorResponse  ResponseKind = 4
	ExtensionNumberResponse ResponseKind = 5
	ListServiceResponse     ResponseKind = 6
	ErrorResponse           ResponseKind = 7
)

// Response is grpc.reflection.v1.ServerReflectionResponse.
type Response struct {
	ValidHost string
	// OriginalRequest is the request this answers; nil if absent.
	OriginalRequest *Request
	// Kind is the message_response case that is set; the fields below
	// that belong to other cases are empty.
	Kind ResponseKind
	// FileDescriptorProtos are serialized google.protobuf.FileDescriptorProto
	// messages (FileDescriptorResponse).
	FileDescriptorProtos [][]byte
	// BaseTypeName and ExtensionNumbers are ExtensionNumberResponse.
	BaseTypeName     string
	ExtensionNumbers []int32
	// Services are the names in ListServiceResponse.
	Services []string
	// ErrorCode and ErrorMessage are ErrorResponse.
	ErrorCode    wire.Code
	ErrorMessage string
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMessage appends field num holding the message that body appends.
func appendMessage(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	inner := body(nil)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// AppendProto appends r's protobuf encoding to dst.
func (r *Request) AppendProto(dst []byte) ([]byte, error) {
	dst = appendString(dst, 1, r.Host)
	switch r.Kind {
	case RequestNone:
	case FileByFilename, FileContainingSymbol, AllExtensionNumbersOfType, ListServices:
		// A set oneof case is written even when empty.
		dst = protowire.AppendTag(dst, protowire.Number(r.Kind), protowire.BytesType)
		dst = protowire.AppendString(dst, r.Name)
	case FileContainingExtension:
		dst = appendMessage(dst, 5, func(b []byte) []byte {
			b = appendString(b, 1, r.Name)
			if r.ExtensionNumber != 0 {
				b = protowire.AppendTag(b, 2, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(int64(r.ExtensionNumber)))
			}
			return b
		})
	default:
		return dst, fmt.Errorf("reflection: unknown request kind %d", r.Kind)
	}
	return dst, nil
}

// UnmarshalProto decodes r from its protobuf encoding. Unknown fields are
// skipped; of several message_request cases the last one wins.
func (r *Request) UnmarshalProto(data []byte) error {
	*r = Request{}
	return wire.WalkProto(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.Host = string(p)
		case 3, 4, 6, 7:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.Kind, r.Name, r.ExtensionNumber = RequestKind(num), string(p), 0
		case 5:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.Kind, r.Name, r.ExtensionNumber = FileContainingExtension, "", 0
			return wire.WalkProto(p, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error {
				switch num {
				case 1:
					if typ != protowire.BytesType {
						return wire.ErrMalformedProto
					}
					r.Name = string(p)
				case 2: // extension_number
					if typ != protowire.VarintType {
						return wire.ErrMalformedProto
					}
					r.ExtensionNumber = int32(v)
				}
				return nil
			})
		}
		return nil
	})
}

// AppendProto appends r's protobuf encoding to dst.
func (r *Response) AppendProto(dst []byte) ([]byte, error) {
	dst = appendString(dst, 1, r.ValidHost)
	if r.OriginalRequest != nil {
		req, err := r.OriginalRequest.AppendProto(nil)
		if err != nil {
			return dst, err
		}
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendBytes(dst, req)
	}
	switch r.Kind {
	case ResponseNone:
	case FileDescriptorResponse:
		dst = appendMessage(dst, 4, func(b []byte) []byte {
			for _, fd := range r.FileDescriptorProtos {
				b = protowire.AppendTag(b, 1, protowire.BytesType)
				b = protowire.AppendBytes(b, fd)
			}
			return b
		})
	case ExtensionNumberResponse:
		dst = appendMessage(dst, 5, func(b []byte) []byte {
			b = appendString(b, 1, r.BaseTypeName)
			if len(r.ExtensionNumbers) > 0 {
				// proto3 packs repeated scalars.
				n := 0
				for _, x := range r.ExtensionNumbers {
					n += protowire.SizeVarint(uint64(int64(x)))
				}
				b = protowire.AppendTag(b, 2, protowire.BytesType)
				b = protowire.AppendVarint(b, uint64(n))
				for _, x := range r.ExtensionNumbers {
					b = protowire.AppendVarint(b, uint64(int64(x)))
				}
			}
			return b
		})
	case ListServiceResponse:
		dst = appendMessage(dst, 6, func(b []byte) []byte {
			for _, s := range r.Services {
				b = appendMessage(b, 1, func(b []byte) []byte { return appendString(b, 1, s) })
			}
			return b
		})
	case ErrorResponse:
		dst = appendMessage(dst, 7, func(b []byte) []byte {
			if r.ErrorCode != 0 {
				b = protowire.AppendTag(b, 1, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(int64(int32(r.ErrorCode))))
			}
			return appendString(b, 2, r.ErrorMessage)
		})
	default:
		return dst, fmt.Errorf("reflection: unknown response kind %d", r.Kind)
	}
	return dst, nil
}

// UnmarshalProto decodes r from its protobuf encoding. Unknown fields are
// skipped; of several message_response cases the last one wins; a packed
// or unpacked extension_number is accepted, as protobuf parsers do.
func (r *Response) UnmarshalProto(data []byte) error {
	*r = Response{}
	return wire.WalkProto(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		if num >= 1 && num <= 7 && num != 3 && typ != protowire.BytesType {
			return wire.ErrMalformedProto
		}
		switch num {
		case 1:
			r.ValidHost = string(p)
		case 2:
			req := new(Request)
			if err := req.UnmarshalProto(p); err != nil {
				return err
			}
			r.OriginalRequest = req
		case 4, 5, 6, 7:
			orig, host := r.OriginalRequest, r.ValidHost
			*r = Response{ValidHost: host, OriginalRequest: orig, Kind: ResponseKind(num)}
			return r.unmarshalCase(p)
		}
		return nil
	})
}

func (r *Response) unmarshalCase(p []byte) error {
	return wire.WalkProto(p, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error {
		switch {
		case r.Kind == FileDescriptorResponse && num == 1:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.FileDescriptorProtos = append(r.FileDescriptorProtos, append([]byte(nil), p...))
		case r.Kind == ExtensionNumberResponse && num == 1:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.BaseTypeName = string(p)
		case r.Kind == ExtensionNumberResponse && num == 2:
			switch typ {
			case protowire.VarintType:
				r.ExtensionNumbers = append(r.ExtensionNumbers, int32(v))
			case protowire.BytesType:
				for len(p) > 0 {
					x, n := protowire.ConsumeVarint(p)
					if n < 0 {
						return wire.ErrMalformedProto
					}
					r.ExtensionNumbers = append(r.ExtensionNumbers, int32(x))
					p = p[n:]
				}
			default:
				return wire.ErrMalformedProto
			}
		case r.Kind == ListServiceResponse && num == 1:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			var name string
			err := wire.WalkProto(p, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
				if num == 1 {
					if typ != protowire.BytesType {
						return wire.ErrMalformedProto
					}
					name = string(p)
				}
				return nil
			})
			if err != nil {
				return err
			}
			r.Services = append(r.Services, name)
		case r.Kind == ErrorResponse && num == 1:
			if typ != protowire.VarintType {
				return wire.ErrMalformedProto
			}
			r.ErrorCode = wire.Code(uint32(v))
		case r.Kind == ErrorResponse && num == 2:
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.ErrorMessage = string(p)
		}
		return nil
	})
}
