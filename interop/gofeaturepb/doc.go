// Package gofeaturepb is protoc-gen-go's code for parley's feature test schema (stubs/testdata), the reference the generated protobuf codecs are checked against.
//
// Regenerate it, from the repository root, with protoc and protoc-gen-go
// (google.golang.org/protobuf/cmd/protoc-gen-go at this module's
// google.golang.org/protobuf version) on PATH:
//
//	protoc -I stubs/testdata --go_out=interop/gofeaturepb --go_opt=paths=source_relative \
//	  '--go_opt=Mfeature.proto=github.com/parleyrpc/parley/interop/gofeaturepb;gofeaturepb' \
//	  '--go_opt=Mcommon.proto=github.com/parleyrpc/parley/interop/gofeaturepb;gofeaturepb' \
//	  stubs/testdata/feature.proto stubs/testdata/common.proto
package gofeaturepb
