package netguard

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

const (
	defaultTimeout             = 15 * time.Second
	defaultMaxIdleConnsPerHost = 64
	tlsHandshakeTimeout        = 10 * time.Second
	idleConnTimeout            = 90 * time.Second
	maxResponseHeaderBytes     = 64 << 10
)

// ClientOptions configures NewHTTPClient.
type ClientOptions struct {
	// Timeout bounds a whole request, body included (WEBHOOK_TIMEOUT).
	// Zero or negative means 15s.
	Timeout time.Duration
	// RootCAs verifies receivers' certificates; nil means the system pool.
	// See LoadCAFile.
	RootCAs *x509.CertPool
	// MaxIdleConnsPerHost sizes the keep-alive pool per receiver.
	// Zero or negative means 64.
	MaxIdleConnsPerHost int
}

// LoadCAFile returns the system pool plus the PEM certificates in path
// (WEBHOOK_CA_FILE), for receivers behind a private CA. An empty path
// returns nil, nil (use the system pool). A file without any certificate is
// an error rather than a silent no-op, because it is almost certainly a
// misconfiguration.
func LoadCAFile(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("CA file %q contains no PEM certificate", path)
	}
	return pool, nil
}

// NewHTTPClient returns the hardened webhook delivery client.
//
//   - Every connection goes through p.DialContext, so the policy is enforced
//     on the addresses actually dialled (DNS rebinding included).
//   - Proxy is nil: environment proxies (HTTPS_PROXY and friends) would make
//     the transport dial the proxy and hand it the hostname, so the policy
//     would check the proxy's address instead of the destination's.
//   - Redirects are never followed (CheckRedirect returns
//     http.ErrUseLastResponse): a 3xx is just a response that the caller
//     treats as a failed delivery. Following it would let a public receiver
//     bounce the request to an internal URL that ValidateURL never saw.
//   - TLS 1.2 or later, verified against opts.RootCAs (nil: system pool).
//   - Timeouts bound the dial, the TLS handshake, the wait for response
//     headers and the whole request, so a slow receiver cannot pin workers.
//     The response-header bound equals the request bound: receivers that
//     answer only after doing their work must not be cut short of what the
//     operator configured, but it still holds if the Transport is reused
//     without this Client's Timeout.
func NewHTTPClient(p *Policy, opts ClientOptions) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &http.Client{
		Transport:     newTransport(p, opts, timeout),
		CheckRedirect: noRedirects,
		Timeout:       timeout,
	}
}

func newTransport(p *Policy, opts ClientOptions, timeout time.Duration) *http.Transport {
	perHost := opts.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = defaultMaxIdleConnsPerHost
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            p.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        idleConnTimeout,
		MaxIdleConnsPerHost:    perHost,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
