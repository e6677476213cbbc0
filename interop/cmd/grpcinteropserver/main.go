// Command grpcinteropserver serves gRPC's interop grpc.testing.TestService
// from grpc-go with the msgpack messages of package handpb
// (interop.NewGRPCServer) on -addr, over h2c, until interrupted.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyrpc/parley/interop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10001", "address to listen on")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := interop.NewGRPCServer()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Stop()
	}()
	log.Printf("grpc-go interop server: serving grpc.testing.TestService on %s (h2c)", l.Addr())
	if err := srv.Serve(l); err != nil {
		log.Fatal(err)
	}
}
