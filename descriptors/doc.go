// Package descriptors holds the serialized .proto file descriptors that generated packages register, so that server reflection can describe their services and types.
package descriptors
