package loopback

import (
	"net"

	"github.com/parleyrpc/parley/runtime"
)

// Dial serves rs on 127.0.0.1, on a port the system picks, and returns a
// client connected to it. stop closes the client, then the server; on an
// error nothing is left running.
func Dial(rs *runtime.Server) (c *runtime.Client, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go rs.Serve(l)
	c, err = runtime.Dial(l.Addr().String())
	if err != nil {
		rs.Close()
		return nil, nil, err
	}
	return c, func() {
		c.Close()
		rs.Close()
	}, nil
}
