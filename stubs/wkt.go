package stubs

import "google.golang.org/protobuf/reflect/protoreflect"

// wktPath is the import path of the Go types for Any and FieldMask.
const wktPath = "github.com/parleyrpc/parley/wkt"

// funcWKT describes a well-known type whose values generated code encodes
// and decodes by calling parleyimpl functions named after it: the
// wrappers, Struct, Value and ListValue (see docs/idl.md).
type funcWKT struct {
	goType string // the Go type of a value
	fn     string // the function name suffix: EncodeMsgpack<fn>, AppendProto<fn>...
	// appendFails: AppendProto<fn> returns an error too; decodeDepth:
	// Proto<fn> takes a depth.
	appendFails, decodeDepth bool
}

// funcWKTs are the well-known types encoded by parleyimpl functions.
var funcWKTs = map[protoreflect.FullName]funcWKT{
	"google.protobuf.DoubleValue": {"*float64", "DoubleValue", false, false},
	"google.protobuf.FloatValue":  {"*float32", "FloatValue", false, false},
	"google.protobuf.Int64Value":  {"*int64", "Int64Value", false, false},
	"google.protobuf.UInt64Value": {"*uint64", "UInt64Value", false, false},
	"google.protobuf.Int32Value":  {"*int32", "Int32Value", false, false},
	"google.protobuf.UInt32Value": {"*uint32", "UInt32Value", false, false},
	"google.protobuf.BoolValue":   {"*bool", "BoolValue", false, false},
	"google.protobuf.StringValue": {"*string", "StringValue", true, false},
	"google.protobuf.BytesValue":  {"[]byte", "BytesValue", false, false},
	"google.protobuf.Struct":      {"map[string]any", "Struct", true, true},
	"google.protobuf.Value":       {"any", "Value", true, true},
	"google.protobuf.ListValue":   {"[]any", "ListValue", true, true},
}

// typeWKTs are the well-known types mapped to the message types of package
// wkt, which have the methods of generated messages.
var typeWKTs = map[protoreflect.FullName]string{
	"google.protobuf.Any":       "Any",
	"google.protobuf.FieldMask": "FieldMask",
}

// wktFunc returns the parleyimpl function prefix+<fn> for e, a
// function-encoded well-known type.
func (f *fileGen) wktFunc(prefix string, e elem) string {
	return f.use(parleyimplPath) + "." + prefix + funcWKTs[protoreflect.FullName(e.wkt)].fn
}

// isFuncWKT reports whether e is a well-known type encoded by parleyimpl
// functions.
func isFuncWKT(e elem) bool {
	_, ok := funcWKTs[protoreflect.FullName(e.wkt)]
	return ok
}
