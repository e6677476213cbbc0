package runtime

import (
	"net"
	"net/netip"
)

func netipParse(s string) (net.Addr, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(ap), nil
}
