// Package e2epb is the generated Go code for ../e2e.proto, the service
// the end-to-end browser test serves.
package e2epb

// Regenerate with `go generate ./e2epb` in browsertest; TestGenerated
// fails when the checked-in files differ from the generator's output.
//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I .. ../e2e.proto
