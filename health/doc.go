// Package health is the standard gRPC health-checking service, grpc.health.v1.Health, served in protobuf for Kubernetes probes and grpc_health_probe and in msgpack for parley clients.
package health
