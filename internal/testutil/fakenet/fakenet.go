// Package fakenet is a pretend public internet on loopback, for tests of
// code that reaches the network through netguard. Names resolve to
// public-looking addresses (1.2.3.x), and a dial of such an address and port
// reaches a loopback server; a TLS server gets a certificate for its name
// that the hooks' RootCAs trust. netguard still checks every name, address,
// port and redirect exactly as it would on the real network, so a test can
// show that a rule, not the lack of a route, stopped a request.
//
// Guarantees: nothing leaves loopback; a dial of an address that no server
// was set up for fails (it never falls through to the real network); every
// server is closed when the test ends.
package fakenet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
)

// Net is one pretend internet.
type Net struct {
	t      testing.TB
	mu     sync.Mutex
	names  map[string]netip.Addr
	routes map[netip.AddrPort]string // public-looking address → loopback listener
	pool   *x509.CertPool
	dials  []netip.AddrPort
	next   int
}

// New returns an empty Net.
func New(t testing.TB) *Net {
	return &Net{t: t, names: map[string]netip.Addr{}, routes: map[netip.AddrPort]string{}, pool: x509.NewCertPool()}
}

// Resolve makes name resolve to addr (which may be private or a metadata
// address, to test that netguard refuses it). Without Resolve, a name
// served with Serve gets a fresh public-looking address.
func (n *Net) Resolve(name string, addr netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.names[strings.ToLower(name)] = addr
}

// Addr is the address name resolves to (the zero Addr if none).
func (n *Net) Addr(name string) netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[strings.ToLower(name)]
}

// Serve starts h as a plain HTTP server reached at name:port and returns
// its URL ("http://name:port").
func (n *Net) Serve(name string, port int, h http.Handler) string {
	srv := httptest.NewServer(h)
	n.t.Cleanup(srv.Close)
	n.route(name, port, srv.Listener.Addr().String())
	return "http://" + net.JoinHostPort(name, strconv.Itoa(port))
}

// ServeTLS starts h as an HTTPS server reached at name:port, with a
// certificate for name that Hooks().RootCAs trusts, and returns its URL
// ("https://name:port").
func (n *Net) ServeTLS(name string, port int, h http.Handler) string {
	n.t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{n.cert(name)}}
	srv.StartTLS()
	n.t.Cleanup(srv.Close)
	n.route(name, port, srv.Listener.Addr().String())
	return "https://" + net.JoinHostPort(name, strconv.Itoa(port))
}

// ServeAddr starts h as a plain HTTP server reached at the exact address
// ap, which may be private, loopback or a metadata address: a test that
// netguard refuses it then knows the refusal, not a missing route, kept
// the request away.
func (n *Net) ServeAddr(ap netip.AddrPort, h http.Handler) {
	srv := httptest.NewServer(h)
	n.t.Cleanup(srv.Close)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routes[ap] = srv.Listener.Addr().String()
}

func (n *Net) route(name string, port int, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name = strings.ToLower(name)
	ip, ok := n.names[name]
	if !ok {
		n.next++
		if n.next > 250 {
			n.t.Fatal("fakenet: too many names")
		}
		ip = netip.AddrFrom4([4]byte{1, 2, 3, byte(n.next)})
		n.names[name] = ip
	}
	n.routes[netip.AddrPortFrom(ip, uint16(port))] = to
}

// cert makes a self-signed certificate for name and trusts it.
func (n *Net) cert(name string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		n.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		n.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		n.t.Fatal(err)
	}
	n.mu.Lock()
	n.pool.AddCert(leaf)
	n.mu.Unlock()
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Hooks are the netguard hooks that put a policy on this Net.
func (n *Net) Hooks() *netguard.Hooks {
	return &netguard.Hooks{
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if ip, ok := n.names[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
				return []netip.Addr{ip}, nil
			}
			return nil, &net.DNSError{Err: "no such host (fakenet)", Name: host, IsNotFound: true}
		},
		Dial: func(ctx context.Context, _ string, ap netip.AddrPort) (net.Conn, error) {
			n.mu.Lock()
			n.dials = append(n.dials, ap)
			to, ok := n.routes[ap]
			n.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("fakenet: nothing listens at %s", ap)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", to)
		},
		RootCAs: n.pool,
	}
}

// Dials lists every address netguard handed to the dial hook, in order.
func (n *Net) Dials() []netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]netip.AddrPort(nil), n.dials...)
}
