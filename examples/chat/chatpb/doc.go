// Package chatpb is the generated Go code for chat.proto: the chat
// example's messages (msgpack maps keyed by proto field name) and its typed
// Chat server and client stubs.
package chatpb

// Regenerate with `go generate ./examples/chat/chatpb`; TestGenerated fails
// when the checked-in file differs from the generator's output.
//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I .. ../chat.proto
