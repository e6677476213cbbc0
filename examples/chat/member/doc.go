// Package member is the chat example's client side: a member's
// conversation with a chat server, printed as readable lines, driven by
// terminal commands or a script.
package member
