package main

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The well-known types that parley's msgpack encoding maps to plain values
// (docs/idl.md): a wrapper is its value, Struct, Value and ListValue are
// free-form msgpack values. Any and FieldMask are messages, encoded by
// their fields like any other.

// wrappers are google/protobuf/wrappers.proto's message names.
var wrappers = map[protoreflect.FullName]bool{
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

// wrappedField returns the value field of md if md is a wrapper type, so
// that a wrapper is read and written as that scalar; nil otherwise.
func wrappedField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	if !wrappers[md.FullName()] {
		return nil
	}
	return md.Fields().ByNumber(1)
}

// isFreeForm reports whether md is Struct, Value or ListValue.
func isFreeForm(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		return true
	}
	return false
}

// encodeFreeForm writes the JSON value v as the free-form msgpack value a
// Struct (an object), ListValue (an array) or Value (anything) is.
func encodeFreeForm(enc *msgpack.Encoder, md protoreflect.MessageDescriptor, v any, path string) error {
	switch md.FullName() {
	case "google.protobuf.Struct":
		if _, ok := v.(*object); !ok {
			return fmt.Errorf("%s: want an object for google.protobuf.Struct, got %s", path, jsonTypeName(v))
		}
	case "google.protobuf.ListValue":
		if _, ok := v.([]any); !ok {
			return fmt.Errorf("%s: want an array for google.protobuf.ListValue, got %s", path, jsonTypeName(v))
		}
	}
	if err := encodeRaw(enc, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeWKTValue writes the next msgpack value of a wrapper or free-form
// message md as JSON; ok is false for other messages.
func writeWKTValue(out *bytes.Buffer, dec *msgpack.Decoder, md protoreflect.MessageDescriptor) (ok bool, err error) {
	if w := wrappedField(md); w != nil {
		return true, writeScalar(out, dec, w)
	}
	if isFreeForm(md) {
		return true, writeRaw(out, dec)
	}
	return false, nil
}
