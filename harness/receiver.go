package harness

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// ReceiverCert is the self-signed certificate of HTTPS webhook receivers on loopback (for
// 127.0.0.1, ::1 and localhost), its PEM in CAFile for the worker to trust through
// WEBHOOK_CA_FILE (see Env.AllowReceivers).
type ReceiverCert struct {
	Cert   tls.Certificate
	CAFile string
}

// NewReceiverCert makes a certificate named commonName and writes its PEM to
// dir/receiver-ca.pem.
func NewReceiverCert(dir, commonName string) (*ReceiverCert, error) {
	certPEM, _, cert, err := testenv.SelfSignedCert(commonName)
	if err != nil {
		return nil, err
	}
	c := &ReceiverCert{Cert: cert, CAFile: filepath.Join(dir, "receiver-ca.pem")}
	if err := os.WriteFile(c.CAFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

// ServeOptions are what receivers' servers differ in.
type ServeOptions struct {
	// HTTP1Only turns HTTP/2 off: closing the server then closes every connection at once.
	HTTP1Only bool
	// IdleTimeout closes idle keep-alive connections (none when zero).
	IdleTimeout time.Duration
}

// Serve serves h over TLS with the certificate on ln, in the background, until the returned
// server is closed. Its errors (handshakes the client gave up on) are not logged.
func (c *ReceiverCert) Serve(ln net.Listener, h http.Handler, o ServeOptions) *http.Server {
	cfg := &tls.Config{Certificates: []tls.Certificate{c.Cert}, MinVersion: tls.VersionTLS12}
	if o.HTTP1Only {
		cfg.NextProtos = []string{"http/1.1"}
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          discardLog,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv
}
