// Package harness measures parley against grpc-go, each side in its own process, over loopback.
package harness
