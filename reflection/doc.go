// Package reflection is gRPC server reflection (grpc.reflection.v1 and v1alpha) for parley servers: it serves the file descriptors that generated packages register, with their dependencies, so that grpcurl, grpc-go's reflection client and other tools can list, describe and call a server's services with no .proto at hand.
package reflection

//go:generate go run ./internal/gendesc/cmd -I proto -out builtin.go
