// Package featurepb is parley gen's code for the feature test schema (stubs/testdata), generated here, outside the main module's internal tree, so that the interop module can check its protobuf codec against protoc-gen-go's (gofeaturepb).
//
// The code is the same as stubs/internal/featurepb's; TestGenerated fails
// when it is stale.
package featurepb

//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I ../../stubs/testdata ../../stubs/testdata/common.proto ../../stubs/testdata/feature.proto
