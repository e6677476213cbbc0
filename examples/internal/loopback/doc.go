// Package loopback starts an example's server on an ephemeral loopback
// port and connects a client to it, as the examples' demos do.
package loopback
