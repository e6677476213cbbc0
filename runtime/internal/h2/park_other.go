//go:build !linux

package h2

import "net"

// Connections park only on Linux (park_linux.go); elsewhere an idle
// connection keeps its reader goroutine.

func mayPark(net.Conn) bool { return false }

func (sc *serverConn) park() bool { return false }

func (sc *serverConn) unpark() {}

func (sc *serverConn) watch() bool { return false }

func (sc *serverConn) unwatch() bool { return false }

func (sc *serverConn) leavePoller() {}
