// Package wkt holds the Go types parley maps two google.protobuf well-known types to, Any and FieldMask, with their msgpack and protobuf encodings.
//
// The other well-known types map to plain Go types (docs/idl.md has the
// table): Timestamp to time.Time, Duration to time.Duration, Empty to
// *struct{}, the wrappers to pointers (*string, *int64, ...; []byte for
// BytesValue), Struct to map[string]any, Value to any and ListValue to
// []any.
package wkt
