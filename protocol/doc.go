// Package protocol declares, checks and enforces conversational protocols:
// which side of a streaming call sends which message kind, in which order.
//
// A protocol is written in a method's comments in the .proto file (see
// docs/conversations.md for the notation), checked and compiled to tables
// by parley gen, and enforced at run time by a Checker on each side of a
// call: Server and Client wrap the runtime's typed calls so that a local
// send the protocol does not allow fails before reaching the wire, and a
// received message it does not allow ends the call.
package protocol
