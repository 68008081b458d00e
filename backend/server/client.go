package server

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// DefaultProxyHeader is the header a trusted proxy names the client in.
const DefaultProxyHeader = "X-Forwarded-For"

// clientAddr is the address of the client behind a request: the TCP
// peer, unless that peer is one of Options.TrustedProxies, in which case
// the proxy header is read from the right (the hop nearest this server)
// and the first address that is not itself a trusted proxy is the client.
// The header is never read from an untrusted peer, which could write
// anything in it.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values(s.opt.ProxyHeader), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: what lies left of it cannot be trusted
		}
		if a = a.Unmap(); !s.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

// trusted reports whether a is one of the configured proxies.
func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrOf parses the IP of a host:port (or a bare IP); the zero Addr when
// it is neither.
func addrOf(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(hostport)
	return a.Unmap()
}

// addrKey is the unit that login back-off and connection caps count per:
// an IPv4 address, or an IPv6 /64 (what one subscriber is usually given,
// so rotating addresses inside it does not reset the count).
func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// normOrigin is an origin in canonical form, scheme://host[:port] in
// lower case without a default port, or "" when s is not an http(s)
// origin.
func normOrigin(s string) string {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme != "http" && scheme != "https") || host == "" {
		return ""
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// sameOrigin accepts requests without an Origin header (not from a
// browser, or a same-origin GET) and those whose Origin is one of
// Options.Origins or the address the connection came in on (scheme, IP
// and port; on loopback also localhost). The request's Host is never
// trusted: a page on a name the attacker rebinds to this server's address
// (DNS rebinding) sends that name as both Host and Origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	o = normOrigin(o)
	if o == "" {
		return false
	}
	if s.origins[o] {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	local, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hosts := []string{local.Addr().Unmap().String()}
	if local.Addr().IsLoopback() {
		hosts = append(hosts, "localhost")
	}
	for _, h := range hosts {
		if normOrigin(scheme+"://"+net.JoinHostPort(h, strconv.Itoa(int(local.Port())))) == o {
			return true
		}
	}
	return false
}
