package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

const (
	dialTimeout = 10 * time.Second
	keepAlive   = 30 * time.Second
)

// DialContext is a drop-in http.Transport.DialContext. It resolves address
// with the policy's resolver, checks every resolved address (all must pass,
// as in ValidateURL: a mix of public and private answers is a rebinding
// tell, not something to route around), and dials the addresses in order
// until one connects. Resolving here, at connect time, is what defeats DNS
// rebinding: the check applies to the very addresses being dialled, not to
// whatever the name resolved to when the endpoint was registered.
//
// The underlying net.Dialer also has a Control hook that re-checks the
// socket address just before connect(2), as defence in depth against any
// path that bypasses resolution.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	family, err := tcpFamily(network)
	if err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("netguard: bad dial address: %w", err)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return nil, err
	}
	ips, err := p.resolveHost(ctx, host, false)
	if err != nil {
		return nil, err
	}
	if err := p.checkAll(ips); err != nil {
		return nil, err
	}
	return p.dialInOrder(ctx, network, family, ips, port)
}

// tcpFamily returns 4, 6 or 0 (either) for a TCP network name. HTTP only
// ever dials TCP; anything else is refused rather than guessed at.
func tcpFamily(network string) (int, error) {
	switch network {
	case "tcp":
		return 0, nil
	case "tcp4":
		return 4, nil
	case "tcp6":
		return 6, nil
	}
	return 0, fmt.Errorf("netguard: unsupported network %q", network)
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, urlErr(RulePort)
	}
	return uint16(n), nil
}

func (p *Policy) dialInOrder(ctx context.Context, network string, family int, ips []netip.Addr, port uint16) (net.Conn, error) {
	var errs []error
	for _, ip := range ips {
		ip = ip.Unmap()
		if !familyMatches(ip, family) {
			continue
		}
		conn, err := p.dial(ctx, network, netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("netguard: no %s address for host", network)
	}
	return nil, errors.Join(errs...)
}

func familyMatches(ip netip.Addr, family int) bool {
	switch family {
	case 4:
		return ip.Is4()
	case 6:
		return ip.Is6()
	}
	return true
}

func (p *Policy) netDialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: keepAlive,
		Control:   p.control,
	}
}

// control runs after the socket is created and before connect(2), with the
// numeric address really being connected to. Whatever produced that
// address, a refused one never gets a packet.
func (p *Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Rule: RuleInvalid}
	}
	return p.CheckAddr(ap.Addr())
}
