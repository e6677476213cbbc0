// Package stubs generates typed msgpack messages and typed mailbox stubs for parley from proto3 schemas.
package stubs
