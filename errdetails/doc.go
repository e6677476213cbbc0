// Package errdetails is the standard google.rpc error detail messages (ErrorInfo, RetryInfo, BadRequest and the rest of google/rpc/error_details.proto) as Go types that encode themselves in protobuf, to attach to a wire.Error and to read from one, interoperable with grpc-go's status.Details.
package errdetails
