// Package negotiatepb is the generated Go code for negotiate.proto: the
// negotiation example's messages and its protocol-checked Market server
// and client.
package negotiatepb

// Regenerate with `go generate ./examples/negotiate/negotiatepb`;
// TestGenerated fails when the checked-in files differ.
//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I .. ../negotiate.proto
