// Package uploadpb is the generated Go code for upload.proto: the upload
// example's messages and its protocol-checked Files server and client.
package uploadpb

// Regenerate with `go generate ./examples/upload/uploadpb`; TestGenerated
// fails when the checked-in files differ from the generator's output.
//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I .. ../upload.proto
